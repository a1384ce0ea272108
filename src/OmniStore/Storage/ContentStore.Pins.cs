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

        return pinned;
    }

    internal void Unpin(ChunkId[] chunks, ManifestId? manifest)
    {
        foreach (var id in chunks)
        {
            Release(_inUse, id);
        }

        if (manifest is { } m)
        {
            Release(_inUseManifests, m);
        }

        static void Release<T>(ConcurrentDictionary<T, int> counts, T key)
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
}
