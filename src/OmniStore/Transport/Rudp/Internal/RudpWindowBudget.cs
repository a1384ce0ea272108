namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// The bytes of receive window a socket's connections may grow by, together (docs/rudp.md, "Memory
/// and hostile input"): each starts with the initial window and takes its growth from here, and
/// gives it back when it closes. So a listener's buffers stay bounded however many fast peers it has.
/// </summary>
internal sealed class RudpWindowBudget(long bytes)
{
    private long _left = bytes;

    /// <summary>Bytes left to give.</summary>
    public long Left => Interlocked.Read(ref _left);

    /// <summary>Takes <paramref name="bytes"/> if that many are left.</summary>
    public bool TryTake(long bytes)
    {
        if (Interlocked.Add(ref _left, -bytes) >= 0)
        {
            return true;
        }

        Interlocked.Add(ref _left, bytes);
        return false;
    }

    public void Return(long bytes) => Interlocked.Add(ref _left, bytes);
}
