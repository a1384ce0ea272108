using System.Collections.Concurrent;
using OmniStore.Content;

namespace OmniStore.Storage.Internal;

/// <summary>
/// Where the chunk log last had each chunk, for reads that bypass FASTER's (see
/// <c>ContentStore.TryReadChunkDirect</c>): learned from writes and reads, at most
/// <see cref="Capacity"/> of them. A location is a hint, never trusted: its user checks the
/// record it points at and forgets a location that no longer holds the chunk.
/// </summary>
/// <remarks>
/// Thread safety: every member may be called concurrently, without a lock (it is on the path of
/// every chunk read and write). The bound is checked before an add, not under a lock, so threads
/// adding at the same moment may pass it by at most one location each. Once full, locations of
/// new chunks are not learned until others are forgotten (eviction forgets what it drops); known
/// chunks still have theirs updated.
/// </remarks>
internal sealed class ChunkLocationCache
{
    /// <summary>The bound a store uses: 2^18 locations, about 20 MB.</summary>
    public const int DefaultCapacity = 1 << 18;

    private readonly ConcurrentDictionary<ChunkId, ChunkLocation> _locations = new();
    private int _count;

    /// <summary>A cache of at most <paramref name="capacity"/> locations.</summary>
    public ChunkLocationCache(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    /// <summary>The most locations remembered at once.</summary>
    public int Capacity { get; }

    /// <summary>How many locations are remembered.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Where the log last had <paramref name="id"/>, if that is remembered.</summary>
    public bool TryGet(ChunkId id, out ChunkLocation location) => _locations.TryGetValue(id, out location);

    /// <summary>
    /// Remembers that the record of <paramref name="id"/> is at <paramref name="address"/> with a
    /// value of <paramref name="length"/> bytes. An address of 0 or less (FASTER found or wrote no
    /// record there) is ignored.
    /// </summary>
    public void Remember(ChunkId id, long address, int length)
    {
        if (address <= 0)
        {
            return;
        }

        var location = new ChunkLocation(address, length);
        if (_locations.TryGetValue(id, out var known))
        {
            _locations.TryUpdate(id, location, known);
        }
        else if (Volatile.Read(ref _count) < Capacity && _locations.TryAdd(id, location))
        {
            Interlocked.Increment(ref _count);
        }
    }

    /// <summary>Forgets where <paramref name="id"/> is: it was dropped (eviction, damage) or has moved.</summary>
    public void Forget(ChunkId id)
    {
        if (_locations.TryRemove(id, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>
    /// Forgets <paramref name="location"/> of <paramref name="id"/>, found stale by its user, unless a
    /// newer location was remembered meanwhile (which the user did not check).
    /// </summary>
    public void Forget(ChunkId id, ChunkLocation location)
    {
        if (_locations.TryRemove(new KeyValuePair<ChunkId, ChunkLocation>(id, location)))
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
