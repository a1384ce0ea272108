namespace OmniStore.Node.Internal;

/// <summary>
/// Lets at most <c>perWindow</c> lines of one kind through per window, so that a flood of
/// connections (each refused, or failing its handshake) cannot turn into a flood of log lines.
/// The count of lines held back is handed to the next line let through, to be reported with it.
/// </summary>
internal sealed class LogThrottle(TimeSpan window, int perWindow)
{
    private readonly Lock _lock = new();
    private readonly long _windowMilliseconds = (long)window.TotalMilliseconds;
    private long _windowStart;
    private bool _started;
    private int _logged;
    private int _suppressed;

    /// <summary>
    /// Whether to write this line. When it returns true, <paramref name="suppressed"/> is how many
    /// lines were held back since the last one written.
    /// </summary>
    public bool ShouldLog(out int suppressed)
    {
        lock (_lock)
        {
            long now = Environment.TickCount64;
            if (!_started || now - _windowStart >= _windowMilliseconds)
            {
                _started = true;
                _windowStart = now;
                _logged = 0;
            }

            if (_logged < perWindow)
            {
                _logged++;
                suppressed = _suppressed;
                _suppressed = 0;
                return true;
            }

            _suppressed++;
            suppressed = 0;
            return false;
        }
    }
}
