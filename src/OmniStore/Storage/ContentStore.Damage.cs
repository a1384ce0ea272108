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
    // A pinned store remembers its damaged chunks in the catalog ('D' + chunk id), durable with the
    // next commit, so that stat and reads still say so after a restart.
    private const byte DamageTag = (byte)'D';

    private readonly ConcurrentDictionary<ChunkId, byte> _damaged = new();

    /// <summary>The chunks this store knows to be damaged (a pinned store's; a cache drops them), found by reads and by <see cref="VerifyAsync"/>; kept across restarts once committed.</summary>
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
            _catalog.Upsert(DamageKey(id), [1]);
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
            _catalog.Delete(DamageKey(id));
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

    private static byte[] DamageKey(ChunkId id)
    {
        var key = new byte[1 + ChunkId.Size];
        key[0] = DamageTag;
        id.Write(key.AsSpan(1));
        return key;
    }

    /// <summary>Reads the damage marks a pinned store left in its catalog.</summary>
    private void LoadDamaged()
    {
        foreach (var (key, _) in _catalog.ReadLatest(DamageTag))
        {
            if (key.Length == 1 + ChunkId.Size)
            {
                _damaged.TryAdd(ChunkId.Read(key.AsSpan(1)), 0);
            }
        }
    }

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
        long bytes = 0, records = 0;
        var whole = new HashSet<ChunkId>();
        var suspects = new List<(ChunkId Id, int Length)>();
        var malformed = new List<byte[]>();
        using (var iterator = _data.ScanAll())
        {
            while (iterator.GetNext(out var info))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (info.Tombstone)
                {
                    continue;
                }

                var key = iterator.GetKey().AsReadOnlySpan();
                var value = iterator.GetValue().AsReadOnlySpan();
                bytes += value.Length;
                records++;
                if (key.Length != ChunkId.Size)
                {
                    malformed.Add(key.ToArray());
                }
                else if (ChunkId.Read(key).Matches(value))
                {
                    whole.Add(ChunkId.Read(key));
                }
                else
                {
                    suspects.Add((ChunkId.Read(key), value.Length));
                }

                progress?.Report(new VerifyProgress(records, bytes, suspects.Count + malformed.Count));
            }
        }

        // A record that failed is read again the way every read goes, through the index, outside the
        // scan (which must not see the log change under it): the scan meets every record, also one
        // that a newer one of the same chunk replaced (a repair), which is no damage, and an older
        // whole one of a chunk whose latest is damaged, which is no proof of health. The read marks
        // (or, in a cache, drops) what is really damaged.
        var damaged = new List<DamagedChunk>();
        foreach (var (id, length) in suspects.DistinctBy(s => s.Id))
        {
            if (length > _options.MaxChunkSize)
            {
                continue;
            }

            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
            try
            {
                if (ReadChunk(id, buffer.AsMemory(0, length)).Status == ChunkReadStatus.Corrupt)
                {
                    damaged.Add(new DamagedChunk(id, length));
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        foreach (var key in malformed)
        {
            _data.Delete(key); // not a chunk at all: nothing can ever read it
        }

        whole.ExceptWith(damaged.Select(d => d.Id));
        return new VerifyReport(whole.Count, bytes, damaged, malformed.Count, Mode == StoreMode.Cache);
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
