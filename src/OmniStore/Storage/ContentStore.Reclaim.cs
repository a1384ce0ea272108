using System.Collections.Concurrent;
using FASTER.core;
using OmniStore.Content;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

internal sealed partial class ContentStore
{
    private readonly Lock _roomLock = new();

    /// <summary>
    /// Makes room for <paramref name="bytes"/> more bytes of log, or throws
    /// <see cref="OmniStoreError.StoreFull"/>. A cache evicts; a pinned store only reclaims the
    /// space of content no binding reaches any more.
    /// </summary>
    private void EnsureRoom(int bytes)
    {
        if (Capacity == 0 || UsedBytes + bytes <= Capacity)
        {
            return;
        }

        lock (_roomLock)
        {
            if (UsedBytes + bytes <= Capacity)
            {
                return;
            }

            // A cache evicts down to a low-water mark so that the next writes do not each pay a pass.
            // When everything in it was used since the previous pass, the first pass only takes
            // that second chance away (as a CLOCK hand sweeps once around) and a second one evicts.
            long target = Mode == StoreMode.Cache ? Capacity - (Capacity / 8) - bytes : Capacity - bytes;
            Reclaim(target);
            if (Mode == StoreMode.Cache && UsedBytes + bytes > Capacity)
            {
                Reclaim(target);
            }
            if (UsedBytes + bytes > Capacity)
            {
                throw new OmniStoreException(
                    OmniStoreError.StoreFull,
                    Mode == StoreMode.Pinned
                        ? $"The pinned store in '{Directory}' is full ({UsedBytes} of {Capacity} bytes used); it never evicts. Delete objects or give it a larger capacity."
                        : $"The cache in '{Directory}' is full of chunks and manifests that are being read ({UsedBytes} of {Capacity} bytes); try again later.");
            }
        }
    }

    /// <summary>
    /// One eviction or reclamation pass: compacts the oldest part of the chunk log, moving the chunks
    /// the policy keeps to the tail and dropping the rest. Runs under <see cref="_roomLock"/>.
    /// </summary>
    internal void Reclaim(long targetBytes)
    {
        HashSet<ChunkId>? live = null;
        var liveManifests = new HashSet<ManifestId>();
        CatalogPolicy catalogPolicy;
        if (Mode == StoreMode.Pinned)
        {
            if (Interlocked.Exchange(ref _unboundSinceReclaim, 0) == 0)
            {
                return; // every chunk is reachable: a pass would copy without freeing anything
            }

            live = [];
            catalogPolicy = new CatalogPolicy(this, liveManifests, null, null);
        }
        else
        {
            // Second chance for the catalog as for chunks: names resolved and manifests read since
            // the previous pass survive this one (with the manifests those names are bound to).
            catalogPolicy = new CatalogPolicy(
                this,
                liveManifests,
                Interlocked.Exchange(ref _recentNames, new ConcurrentDictionary<ulong, byte>()),
                Interlocked.Exchange(ref _recentManifests, new ConcurrentDictionary<ManifestId, byte>()));
        }

        CollectLive(catalogPolicy, liveManifests, live);

        // Second chance: chunks read since the previous pass survive this one, and start over.
        var recent = Interlocked.Exchange(ref _recentReads, new ConcurrentDictionary<ChunkId, byte>());
        var policy = new ChunkPolicy(this, recent, live);
        long before = UsedBytes;
        var log = _data.Kv.Log;
        for (int attempt = 0; attempt < 4 && UsedBytes > targetBytes; attempt++)
        {
            // A cache evicts only what it must, oldest first. A pinned store reclaims the whole log in
            // one pass: it runs only when the store is full and some content became unreachable, and
            // its cost (copying live chunks forward) is paid once for all the garbage.
            long until = Mode == StoreMode.Cache
                ? Math.Min(log.BeginAddress + (UsedBytes - targetBytes), log.TailAddress)
                : log.TailAddress;
            if (until > log.SafeReadOnlyAddress)
            {
                log.ShiftReadOnlyAddress(until, wait: true);
            }

            long reached = _data.Compact(until, policy);
            if (Mode == StoreMode.Pinned || (reached <= log.BeginAddress && reached < until))
            {
                break;
            }
        }

        CompactCatalog(catalogPolicy);
        long freed = Math.Max(0, before - UsedBytes);
        Interlocked.Add(ref _evictedBytes, freed);
        StoreLog.PassCompleted(_logger, Mode, Directory, freed, UsedBytes, Capacity);
    }

    private void CompactCatalog(CatalogPolicy policy)
    {
        var log = _catalog.Kv.Log;
        long tail = log.TailAddress;
        if (tail <= log.BeginAddress)
        {
            return;
        }

        log.ShiftReadOnlyAddress(tail, wait: true);
        _catalog.Compact(tail, policy);
    }

    /// <summary>
    /// Adds to <paramref name="manifests"/> the manifests bound to the names <paramref name="policy"/>
    /// keeps, and to <paramref name="chunks"/> (when given) their chunks.
    /// </summary>
    private void CollectLive(CatalogPolicy policy, HashSet<ManifestId> manifests, HashSet<ChunkId>? chunks)
    {
        using (var iterator = _catalog.IterateLive())
        {
            while (iterator.GetNext(out _))
            {
                var key = iterator.GetKey().AsReadOnlySpan();
                if (key.Length == 0 || key[0] != NameTag)
                {
                    continue;
                }

                var binding = Binding.Read(iterator.GetValue().AsReadOnlySpan());
                if (binding.IsBound && policy.KeepsName(key))
                {
                    manifests.Add(binding.ManifestId);
                }
            }
        }

        if (chunks is null)
        {
            return;
        }

        foreach (var id in manifests)
        {
            var manifest = ReadManifestAsync(id).AsTask().GetAwaiter().GetResult();
            if (manifest is not null)
            {
                chunks.UnionWith(manifest.Chunks);
            }
        }
    }

    /// <summary>Decides, during a compaction of the chunk log, which chunks are dropped.</summary>
    private readonly struct ChunkPolicy(ContentStore store, ConcurrentDictionary<ChunkId, byte> recent, HashSet<ChunkId>? live)
        : ICompactionFunctions<SpanByte, SpanByte>
    {
        public bool IsDeleted(ref SpanByte key, ref SpanByte value)
        {
            var id = ChunkId.Read(key.AsReadOnlySpan());
            if (store._inUse.ContainsKey(id))
            {
                return false;
            }

            bool dropped = live is not null
                ? !live.Contains(id) // pinned: drop only what no binding reaches
                : !recent.ContainsKey(id) && !store._recentReads.ContainsKey(id); // cache: drop the unread
            if (dropped)
            {
                store._locations.Forget(id);
            }

            return dropped;
        }
    }

    /// <summary>
    /// Decides, during a compaction of the catalog, which bindings and manifests are dropped. A pinned
    /// store (no recent sets) keeps every binding (tombstones keep versions monotonic) and the
    /// manifests they reach. A cache keeps the names resolved since the previous pass, the manifests
    /// those are bound to, and the manifests read since then; its parent has the rest.
    /// </summary>
    private readonly struct CatalogPolicy(
        ContentStore store,
        HashSet<ManifestId> liveManifests,
        ConcurrentDictionary<ulong, byte>? recentNames,
        ConcurrentDictionary<ManifestId, byte>? recentManifests)
        : ICompactionFunctions<SpanByte, SpanByte>
    {
        public bool IsDeleted(ref SpanByte key, ref SpanByte value)
        {
            var k = key.AsReadOnlySpan();
            if (k[0] != ManifestTag)
            {
                return !KeepsName(k);
            }

            var id = ManifestId.Read(k[1..]);
            return !liveManifests.Contains(id)
                && !store._inUseManifests.ContainsKey(id)
                && !(recentManifests is not null && (recentManifests.ContainsKey(id) || store._recentManifests.ContainsKey(id)));
        }

        /// <summary>Whether the binding under <paramref name="nameKey"/> stays: always in a pinned store, if resolved since the previous pass in a cache.</summary>
        public bool KeepsName(ReadOnlySpan<byte> nameKey)
        {
            if (recentNames is null)
            {
                return true;
            }

            ulong hash = XxHash3.Hash64(nameKey);
            return recentNames.ContainsKey(hash) || store._recentNames.ContainsKey(hash);
        }
    }
}
