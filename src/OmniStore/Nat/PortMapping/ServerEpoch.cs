using System.Diagnostics;

namespace OmniStore.Nat.PortMapping;

/// <summary>
/// Tells from a NAT-PMP or PCP server's epoch (seconds since its mapping table was reset) whether it
/// lost its mappings since the last answer (RFC 6886 section 3.6, RFC 6887 section 8.5): the epoch
/// must have grown by about the time that passed here, at least 7/8 of it less 2 seconds.
/// </summary>
internal sealed class ServerEpoch
{
    private readonly Lock _lock = new();
    private uint? _epoch;
    private long _at;

    /// <summary>Records an answer's epoch; true when it shows the server restarted (or lost its table) since the last answer.</summary>
    public bool Observe(uint epoch)
    {
        lock (_lock)
        {
            long now = Stopwatch.GetTimestamp();
            bool restarted = false;
            if (_epoch is { } previous)
            {
                double elapsed = Stopwatch.GetElapsedTime(_at, now).TotalSeconds;
                restarted = epoch < previous || epoch + 2 < previous + (elapsed * 7 / 8);
            }

            _epoch = epoch;
            _at = now;
            return restarted;
        }
    }
}
