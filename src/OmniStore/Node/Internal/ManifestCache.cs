using System.Collections.Concurrent;
using OmniStore.Content;

namespace OmniStore.Node.Internal;

/// <summary>
/// The manifests of small objects a client has read, by id, so that reading such an object again
/// costs two requests (RESOLVE, then its chunks) instead of three. A manifest is named by the hash
/// of its content, so a cached one is never stale: a re-Put binds the name to another id, which
/// RESOLVE returns and which is then looked up here like any other. Only manifests of at most
/// <see cref="MaxChunks"/> chunks are kept (for a larger object the manifest's request is a small
/// part of the Get), at most <see cref="Capacity"/> of them; a new one beyond that drops those not
/// used since the previous sweep (a second chance, as <see cref="BindingCache"/>).
/// </summary>
internal sealed class ManifestCache
{
    private readonly ConcurrentDictionary<ManifestId, Entry> _entries = new();
    private readonly Lock _sweepLock = new();
    private int _count;

    public ManifestCache(int capacity, int maxChunks)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxChunks);
        Capacity = capacity;
        MaxChunks = maxChunks;
    }

    /// <summary>The most manifests held.</summary>
    public int Capacity { get; }

    /// <summary>The most chunks a manifest held here has.</summary>
    public int MaxChunks { get; }

    /// <summary>How many manifests are held now.</summary>
    public int Count => Volatile.Read(ref _count);

    public bool TryGet(ManifestId id, out Manifest manifest)
    {
        if (_entries.TryGetValue(id, out var entry))
        {
            entry.Referenced = true;
            manifest = entry.Manifest;
            return true;
        }

        manifest = null!;
        return false;
    }

    /// <summary>Keeps <paramref name="manifest"/> if it has at most <see cref="MaxChunks"/> chunks.</summary>
    public void Add(Manifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Chunks.Count > MaxChunks)
        {
            return;
        }

        var added = new Entry(manifest);
        if (_entries.TryAdd(manifest.Id, added) && Interlocked.Increment(ref _count) > Capacity)
        {
            Sweep(added);
        }
    }

    /// <summary>Drops manifests not in use to make room for <paramref name="added"/>, which stays.</summary>
    private void Sweep(Entry added)
    {
        lock (_sweepLock)
        {
            // A second round only when every manifest was in use: like a CLOCK hand going around twice.
            for (int round = 0; round < 2 && Count > Capacity; round++)
            {
                foreach (var entry in _entries)
                {
                    if (!entry.Value.Referenced && entry.Value != added)
                    {
                        if (_entries.TryRemove(entry))
                        {
                            Interlocked.Decrement(ref _count);
                        }
                    }
                    else
                    {
                        entry.Value.Referenced = false;
                    }
                }
            }
        }
    }

    private sealed class Entry(Manifest manifest)
    {
        private int _referenced;

        public Manifest Manifest { get; } = manifest;

        /// <summary>Looked up since the previous sweep.</summary>
        public bool Referenced
        {
            get => Volatile.Read(ref _referenced) != 0;
            set => Volatile.Write(ref _referenced, value ? 1 : 0);
        }
    }
}
