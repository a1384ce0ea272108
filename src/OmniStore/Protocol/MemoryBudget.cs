using OmniStore.Internal;
using System.Collections.Concurrent;

namespace OmniStore.Protocol;

/// <summary>
/// The memory a node lets its connections hold, together: message buffers being received, received
/// requests not yet served, and answers being sent. Each connection charges what it holds here (and
/// against its own <see cref="ConnectionLimits"/>); when the total passes <see cref="Limit"/>, the
/// connection with the most bytes of unfinished messages is closed (a peer that announces messages
/// and does not finish them is the one to go), or, when no connection holds unfinished messages, the
/// connections that want more wait until memory is released. The node itself never runs out.
/// </summary>
internal sealed class MemoryBudget
{
    /// <summary>Unfinished bytes below which a connection is not closed to make room: it is a legitimate peer mid-message.</summary>
    internal const long MinShedBytes = 1 << 20;

    private readonly ConcurrentDictionary<PeerConnection, byte> _connections = new();
    private readonly ReleaseSignal _released = new();
    private long _used;
    private long _shed;

    public MemoryBudget(long limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1L << 20);
        Limit = limit;
    }

    /// <summary>
    /// The default limit: a quarter of the memory the process may use (the GC's view: the machine's
    /// memory, a container's limit or <c>DOTNET_GCHeapHardLimit</c>), at most 1 GiB.
    /// </summary>
    public static long DefaultLimit => Math.Clamp(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4, 64L << 20, 1L << 30);

    /// <summary>The most the node's connections hold together before one is closed or they wait.</summary>
    public long Limit { get; }

    /// <summary>Bytes held by all connections now.</summary>
    public long Used => Interlocked.Read(ref _used);

    /// <summary>Connections closed to keep the node within its budget.</summary>
    public long Shed => Interlocked.Read(ref _shed);

    public bool IsOver => Used > Limit;

    internal void Register(PeerConnection connection) => _connections.TryAdd(connection, 0);

    internal void Unregister(PeerConnection connection) => _connections.TryRemove(connection, out _);

    internal void Charge(long bytes) => Interlocked.Add(ref _used, bytes);

    internal void Release(long bytes)
    {
        Interlocked.Add(ref _used, -bytes);
        _released.Pulse();
    }

    /// <summary>Completes at the next release of memory by any connection.</summary>
    internal Task NextReleaseAsync() => _released.Next;

    /// <summary>
    /// Closes the connection holding the most bytes of unfinished messages, if it holds at least
    /// <see cref="MinShedBytes"/>; returns whether one was closed.
    /// </summary>
    internal bool TryShed()
    {
        PeerConnection? victim = null;
        long most = MinShedBytes - 1;
        foreach (var connection in _connections.Keys)
        {
            long unfinished = connection.ReclaimableBytes;
            if (unfinished > most && connection.IsOpen)
            {
                most = unfinished;
                victim = connection;
            }
        }

        if (victim is null)
        {
            return false;
        }

        Interlocked.Increment(ref _shed);
        victim.Close(new OmniStoreException(OmniStoreError.ProtocolError, $"The node is over its memory budget of {Limit} bytes, and this connection held the most it could give back ({most} bytes of unfinished messages or unread answers)."));
        return true;
    }
}
