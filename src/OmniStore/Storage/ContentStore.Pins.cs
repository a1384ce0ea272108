using System.Collections.Concurrent;
using OmniStore.Content;

namespace OmniStore.Storage;

/// <summary>Pins: what readers and writers rely on right now, kept by every eviction and reclamation pass.</summary>
internal sealed partial class ContentStore
{
    private readonly ConcurrentDictionary<ChunkId, int> _inUse = new();
    private readonly ConcurrentDictionary<ManifestId, int> _inUseManifests = new();

    /// <summary>
    /// Marks a manifest and its chunks as in use until the returned handle is disposed: eviction and
    /// reclamation keep them. Readers pin what they read; writers pin what they rely on (including
    /// chunks that were already present) until their binding is committed.
    /// </summary>
    public ContentPin Pin(Manifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        _inUseManifests.AddOrUpdate(manifest.Id, 1, static (_, count) => count + 1);
        return new ContentPin(this, PinChunks(manifest.Chunks), manifest.Id);
    }

    /// <summary>Marks chunks as in use until the returned handle is disposed.</summary>
    public ContentPin Pin(IEnumerable<ChunkId> chunks) => new(this, PinChunks(chunks), null);

    private ChunkId[] PinChunks(IEnumerable<ChunkId> chunks)
    {
        var pinned = chunks.Distinct().ToArray();
        foreach (var id in pinned)
        {
            _inUse.AddOrUpdate(id, 1, static (_, count) => count + 1);
        }

        // Pinned before the caller looks the chunks up: a pass that starts later sees the pins, and
        // one already running is seen by the lookup (WriteChunk reads its address with a fence here).
        Interlocked.MemoryBarrier();
        return pinned;
    }

    internal void Unpin(ChunkId[] chunks, ManifestId? manifest)
    {
        // A pass running now keeps what is released while it runs: the holder may have bound it
        // after the pass read the catalog. Noted before the pin goes, so it is never in neither set.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _releasedChunks) is { } releasedChunks)
        {
            foreach (var id in chunks)
            {
                releasedChunks.TryAdd(id, 0);
            }
        }

        if (manifest is { } released && Volatile.Read(ref _releasedManifests) is { } releasedManifests)
        {
            releasedManifests.TryAdd(released, 0);
        }

        foreach (var id in chunks)
        {
            Release(_inUse, id);
        }

        if (manifest is { } m)
        {
            Release(_inUseManifests, m);
        }
    }

    /// <summary>Takes one from <paramref name="key"/>'s count, removing it at zero.</summary>
    private static void Release<T>(ConcurrentDictionary<T, int> counts, T key)
        where T : notnull
    {
        while (true)
        {
            int count = counts[key];
            if (count == 1 ? counts.TryRemove(new KeyValuePair<T, int>(key, 1)) : counts.TryUpdate(key, count - 1, count))
            {
                return;
            }
        }
    }
}
