using System.Collections.Concurrent;
using OmniStore.Content;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

/// <summary>
/// Chunks that failed verification (docs/storage.md, "Damaged chunks"): a cache drops them and
/// fetches again; a pinned store, which may hold the tree's only copy, keeps them marked damaged
/// until a verified copy replaces them, so that every read of one says Corrupt.
/// </summary>
internal sealed partial class ContentStore
{
    private readonly ConcurrentDictionary<ChunkId, byte> _damaged = new();

    /// <summary>The chunks this store knows to be damaged (a pinned store's; a cache drops them). Found by reads and by <see cref="VerifyAsync"/>; not kept across restarts, where the next read or verification finds them again.</summary>
    public IReadOnlyCollection<ChunkId> DamagedChunks => (IReadOnlyCollection<ChunkId>)_damaged.Keys;

    /// <summary>Whether <paramref name="id"/> is known to be damaged here.</summary>
    public bool IsDamaged(ChunkId id) => !_damaged.IsEmpty && _damaged.ContainsKey(id);

    /// <summary>A read found <paramref name="id"/>'s bytes not matching it: dropped from a cache, marked in a pinned store.</summary>
    private void OnCorrupt(ChunkId id, byte[] key)
    {
        _locations.Forget(id);
        if (Mode == StoreMode.Cache)
        {
            StoreLog.ChunkCorrupt(_logger, id.ToString(), Directory);
            _data.Delete(key);
        }
        else if (_damaged.TryAdd(id, 0))
        {
            StoreLog.ChunkDamaged(_logger, id.ToString(), Directory);
        }
    }

    /// <summary>
    /// Writes a verified copy of <paramref name="id"/> over whatever the store holds for it (a
    /// damaged record, typically); the chunk is then whole again. Returns false, writing nothing,
    /// when <paramref name="data"/> is not the chunk.
    /// </summary>
    public bool RepairChunk(ChunkId id, ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        if (data.Length > _options.MaxChunkSize || !id.Matches(data))
        {
            return false;
        }

        var key = ChunkKey(id);
        EnsureRoom(data.Length);
        _locations.Remember(id, _data.Upsert(key, data), data.Length);
        if (_damaged.TryRemove(id, out _))
        {
            StoreLog.ChunkRepaired(_logger, id.ToString(), Directory);
        }

        return true;
    }

    /// <summary>
    /// Reads every chunk of the store and checks it against its id, reporting progress after each
    /// chunk; damaged chunks are dropped from a cache and marked in a pinned store, as a read would.
    /// </summary>
    public Task<VerifyReport> VerifyAsync(IProgress<VerifyProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Verify(progress, cancellationToken), cancellationToken);

    /// <summary>The bound names whose objects use one of <paramref name="chunks"/>, in order.</summary>
    public async Task<IReadOnlyList<string>> NamesUsingAsync(IReadOnlyCollection<ChunkId> chunks, CancellationToken cancellationToken = default)
    {
        if (chunks.Count == 0)
        {
            return [];
        }

        var wanted = chunks.ToHashSet();
        var names = new List<string>();
        foreach (var (name, binding) in ListBindings().Where(b => b.Binding.IsBound))
        {
            var manifest = await ReadManifestAsync(binding.ManifestId, cancellationToken).ConfigureAwait(false);
            if (manifest is null || manifest.Chunks.Any(wanted.Contains))
            {
                names.Add(name); // a missing manifest is damage too
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private VerifyReport Verify(IProgress<VerifyProgress>? progress, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        long verified = 0, bytes = 0;
        var bad = new List<(ChunkId Id, byte[] Key, int Length)>();
        var malformed = new List<byte[]>();
        using (var iterator = _data.IterateLive())
        {
            while (iterator.GetNext(out _))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var key = iterator.GetKey().AsReadOnlySpan();
                var value = iterator.GetValue().AsReadOnlySpan();
                bytes += value.Length;
                if (key.Length != ChunkId.Size)
                {
                    malformed.Add(key.ToArray());
                }
                else if (ChunkId.Read(key).Matches(value))
                {
                    verified++;
                }
                else
                {
                    bad.Add((ChunkId.Read(key), key.ToArray(), value.Length));
                }

                progress?.Report(new VerifyProgress(verified + bad.Count + malformed.Count, bytes, bad.Count + malformed.Count));
            }
        }

        // Outside the iteration: FASTER's iterator must not see the log change under it.
        foreach (var (id, key, _) in bad)
        {
            OnCorrupt(id, key);
        }

        foreach (var key in malformed)
        {
            _data.Delete(key); // not a chunk at all: nothing can ever read it
        }

        return new VerifyReport(verified, bytes, [.. bad.Select(b => new DamagedChunk(b.Id, b.Length))], malformed.Count, Mode == StoreMode.Cache);
    }
}

/// <summary>A chunk that failed verification, and its length on disk (what a repair asks for).</summary>
internal readonly record struct DamagedChunk(ChunkId Id, int Length);

/// <summary>
/// What <see cref="ContentStore.VerifyAsync"/> found: the chunks that verified, and the damaged ones
/// (dropped when <see cref="Dropped"/>, in a cache; marked damaged in a pinned store). Malformed
/// records (a key that is no chunk id) are always dropped.
/// </summary>
internal sealed record VerifyReport(long Verified, long Bytes, IReadOnlyList<DamagedChunk> Damaged, long Malformed, bool Dropped);
