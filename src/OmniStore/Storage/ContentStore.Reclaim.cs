using System.Collections.Concurrent;
using FASTER.core;
using OmniStore.Content;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

internal sealed partial class ContentStore
{
    private readonly Lock _roomLock = new();

    /// <summary>Runs in a reclamation pass just before it reads the catalog's bindings (tests: a change landing then).</summary>
    internal Action? BeforeLiveScan { get; set; }

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
    /// One eviction or reclamation pass to get down to <paramref name="targetBytes"/>, for a writer that
    /// needs room. Runs under <see cref="_roomLock"/>, after any pass already running.
    /// </summary>
    internal void Reclaim(long targetBytes) => RunPass(PassKind.Room, targetBytes, 0, null, CancellationToken.None);

    /// <summary>
    /// Runs one pass once no other one runs (see <see cref="PassKind"/>). A <see cref="PassKind.Collect"/>
    /// pass compacts only if at least <paramref name="minimumGarbage"/> bytes of the chunk log are
    /// unreachable, and stops between two steps when <paramref name="stop"/> is cancelled.
    /// </summary>
    private PassOutcome RunPass(PassKind kind, long targetBytes, long minimumGarbage, IProgress<ReclaimProgress>? progress, CancellationToken stop)
    {
        _passGate.Wait(stop);
        try
        {
            return Mode == StoreMode.Cache && kind == PassKind.Room ? Evict(targetBytes) : CollectUnreachable(kind, minimumGarbage, progress, stop);
        }
        finally
        {
            _passGate.Release();
        }
    }

    /// <summary>
    /// A cache's eviction pass: compacts the oldest part of the chunk log, moving the chunks read since
    /// the previous pass (or pinned) to the tail and dropping the rest, then the catalog likewise.
    /// </summary>
    private PassOutcome Evict(long targetBytes)
    {
        // Second chance for the catalog as for chunks: names resolved and manifests read since
        // the previous pass survive this one (with the manifests those names are bound to).
        var liveManifests = new HashSet<ManifestId>();
        var catalogPolicy = new CatalogPolicy(
            this,
            liveManifests,
            Interlocked.Exchange(ref _recentNames, new ConcurrentDictionary<ulong, byte>()),
            Interlocked.Exchange(ref _recentManifests, new ConcurrentDictionary<ManifestId, byte>()),
            null,
            null,
            null);
        CollectBound(catalogPolicy, liveManifests);

        // Second chance: chunks read since the previous pass survive this one, and start over.
        var recent = Interlocked.Exchange(ref _recentReads, new ConcurrentDictionary<ChunkId, byte>());
        var policy = new ChunkPolicy(this, recent, null, null, keepRecent: true);
        long before = UsedBytes;
        var log = _data.Kv.Log;
        for (int attempt = 0; attempt < 4 && UsedBytes > targetBytes; attempt++)
        {
            // Only what it must, oldest first.
            long until = Math.Min(log.BeginAddress + (UsedBytes - targetBytes), log.TailAddress);
            if (until > log.SafeReadOnlyAddress)
            {
                log.ShiftReadOnlyAddress(until, wait: true);
            }

            long reached = _data.Compact(until, policy);
            if (reached <= log.BeginAddress && reached < until)
            {
                break;
            }
        }

        CompactCatalog(catalogPolicy, _catalog.Kv.Log.TailAddress);
        return Completed(before, 0, compacted: true);
    }

    /// <summary>
    /// A reclamation pass: drops the chunks and manifests that no binding reaches, keeping everything a
    /// reader or writer pins (or pinned at any moment since the pass started), and in a cache the
    /// chunks read since its previous pass too. The chunk log is compacted in steps of a few pages up
    /// to its tail as the pass started, so that <paramref name="stop"/> ends it within one step; the
    /// catalog is compacted once the chunk log is. See docs/storage.md, "Reclaiming space".
    /// </summary>
    private PassOutcome CollectUnreachable(PassKind kind, long minimumGarbage, IProgress<ReclaimProgress>? progress, CancellationToken stop)
    {
        long before = UsedBytes;
        if (Mode == StoreMode.Pinned && Interlocked.Exchange(ref _unboundSinceReclaim, 0) == 0 && kind == PassKind.Room)
        {
            return Completed(before, 0, compacted: false); // every chunk is reachable: a pass would copy without freeing anything
        }

        // Unbindings no checkpoint holds yet keep their content (a crash could recover them bound):
        // a commit first makes them durable, so this pass can reclaim what they released.
        if (!_unboundNotDurable.IsEmpty)
        {
            CommitAsync(CancellationToken.None).GetAwaiter().GetResult();
        }

        var log = _data.Kv.Log;
        var releasedChunks = new ConcurrentDictionary<ChunkId, byte>();
        var releasedManifests = new ConcurrentDictionary<ManifestId, byte>();
        long garbageAtStart = Interlocked.Read(ref _garbageEstimate);
        try
        {
            // Pins released from now on count as held (a Put may bind after the catalog was read),
            // published with a full fence before the catalog is read: see Unpin for the other side.
            Interlocked.Exchange(ref _releasedChunks, releasedChunks);
            Interlocked.Exchange(ref _releasedManifests, releasedManifests);
            long catalogUntil = _catalog.Kv.Log.TailAddress;

            // The pass compacts up to the tail as it is now, all of it read from disk: the pages in
            // memory are written and dropped first. A record copied to the tail from a source in
            // memory that leaves memory meanwhile (writers move the head all the time) makes FASTER
            // 2.6.5 abandon an allocation with its size where the key's length belongs, which its
            // own scans then misread; a source on disk cannot leave memory.
            //
            // Only up to the start of the tail's page, though: a head address in the middle of a
            // page, recorded by the next checkpoint, makes FASTER's recovery load that page from the
            // head on only, and the first flush after recovery then writes the sector around the
            // recovered tail from memory that holds zeros before it, over the end of the last record
            // (GcTests: the last chunk copied before a kill came back with its last bytes zeroed).
            // The tail's page is compacted by a later pass.
            long until = (log.TailAddress >> _data.PageSizeBits) << _data.PageSizeBits;
            log.ShiftReadOnlyAddress(log.TailAddress, wait: true);
            if (until > log.HeadAddress)
            {
                log.ShiftHeadAddress(until, wait: true);
            }

            until = Math.Min(until, log.HeadAddress);

            // Reachable: every bound manifest, and those unbound since the last catalog checkpoint (a
            // crash may recover the catalog as it was, still binding them). Those are read after the
            // bindings: a name changed after this list was taken and before the scan reached it would
            // otherwise be seen changed and its old manifest not listed yet (a rebinding lists it
            // before it writes, see RebindAsync). A cache also keeps the manifests read since its
            // previous pass; neither recency set is reset here.
            var liveManifests = new HashSet<ManifestId>();
            var live = new HashSet<ChunkId>();
            var orphans = new HashSet<ManifestId>();
            var catalogPolicy = Mode == StoreMode.Pinned
                ? new CatalogPolicy(this, liveManifests, null, null, releasedManifests, _orphanManifests, orphans)
                : new CatalogPolicy(this, liveManifests, null, _recentManifests, releasedManifests, null, null);
            BeforeLiveScan?.Invoke();
            CollectBound(catalogPolicy, liveManifests);
            liveManifests.UnionWith(_unbinding.Keys);
            liveManifests.UnionWith(_unboundNotDurable.Keys);
            long liveBytes = CollectChunks(liveManifests, live);

            // Each record of the chunk log is its value and about 40 bytes of header and key.
            long garbage = (until - log.BeginAddress) - liveBytes - (live.Count * 40L);
            if (kind == PassKind.Collect && garbage < Math.Max(1, minimumGarbage))
            {
                Interlocked.Add(ref _garbageEstimate, -Math.Min(garbageAtStart, Interlocked.Read(ref _garbageEstimate)));
                GarbageEstimateChanged();
                return Completed(before, liveBytes, compacted: false);
            }

            var policy = new ChunkPolicy(this, _recentReads, live, releasedChunks, keepRecent: Mode == StoreMode.Cache);
            long begin = log.BeginAddress;
            long from = begin;
            long work = Interlocked.Read(ref _foregroundWork);
            while (from < until && !stop.IsCancellationRequested)
            {
                // Whole pages per step: a page starts with a record, and the pass stops within one step.
                // Published (with a full fence) before the step judges any record: a writer that pinned a
                // chunk and then finds it in this range waits for the step (see WriteChunk).
                long stepUntil = Math.Min(until, ((from >> _data.PageSizeBits) + PagesPerStep) << _data.PageSizeBits);
                if (kind == PassKind.Collect)
                {
                    work = ReadAheadYielding(from, Math.Min(stepUntil, log.HeadAddress), work, stop);
                }

                Interlocked.Exchange(ref _stepUntil, stepUntil);
                long reached = _data.Compact(stepUntil, policy);
                var report = new ReclaimProgress(Math.Min(reached, until) - begin, until - begin);
                Interlocked.Exchange(ref _passTotal, report.Total);
                Interlocked.Exchange(ref _passScanned, report.Scanned);
                progress?.Report(report);
                if (reached <= from)
                {
                    break;
                }

                // Short of the step's end is the free space at the end of its last page (no chunk
                // record fitted there): every record before the step's end was judged.
                from = Math.Max(reached, stepUntil);
                if (kind == PassKind.Collect)
                {
                    // A pass for room holds up the writer that needs it: it does not yield.
                    work = YieldToForeground(work, stop);
                }
            }

            if (from < until)
            {
                StoreLog.PassStopped(_logger, Directory, from - begin, until - begin);
                return new PassOutcome(before, UsedBytes, liveBytes, Compacted: true, Completed: false);
            }

            CompactCatalog(catalogPolicy, catalogUntil);
            if (Mode == StoreMode.Pinned)
            {
                _orphanManifests = orphans;
            }

            Interlocked.Add(ref _garbageEstimate, -Math.Min(garbageAtStart, Interlocked.Read(ref _garbageEstimate)));
            GarbageEstimateChanged();
            return Completed(before, liveBytes, compacted: true);
        }
        finally
        {
            Interlocked.Exchange(ref _stepUntil, 0);
            Interlocked.Exchange(ref _releasedChunks, null);
            Interlocked.Exchange(ref _releasedManifests, null);
        }
    }

    private PassOutcome Completed(long before, long liveBytes, bool compacted)
    {
        long freed = Math.Max(0, before - UsedBytes);
        Interlocked.Add(ref _evictedBytes, freed);
        if (compacted)
        {
            StoreLog.PassCompleted(_logger, Mode, Directory, freed, UsedBytes, Capacity);
        }

        return new PassOutcome(before, UsedBytes, liveBytes, compacted, Completed: true);
    }

    private void CompactCatalog(CatalogPolicy policy, long tail)
    {
        var log = _catalog.Kv.Log;
        if (tail <= log.BeginAddress)
        {
            return;
        }

        log.ShiftReadOnlyAddress(tail, wait: true);
        _catalog.Compact(tail, policy);

        // A cache's compaction drops the names not resolved since the previous pass: the index of
        // names it lists is built again from what is left.
        DropNameIndex();
    }

    /// <summary>Adds to <paramref name="manifests"/> the manifests bound to the names <paramref name="policy"/> keeps. Reads only the catalog.</summary>
    private void CollectBound(CatalogPolicy policy, HashSet<ManifestId> manifests)
    {
        foreach (var (key, value) in _catalog.ReadLatest(NameTag))
        {
            var binding = Binding.Read(value);
            if (binding.IsBound && policy.KeepsName(key))
            {
                manifests.Add(binding.ManifestId);
            }
        }
    }

    /// <summary>
    /// Adds to <paramref name="chunks"/> the chunks of every manifest in <paramref name="manifests"/>;
    /// returns the bytes of those chunks, each counted once. Reads only the catalog.
    /// </summary>
    private long CollectChunks(HashSet<ManifestId> manifests, HashSet<ChunkId> chunks)
    {
        long bytes = 0;
        foreach (var id in manifests)
        {
            // Not a use: a pass reading every manifest must not keep them all in a cache's catalog.
            var manifest = ReadManifestAsync(id, noteUse: false, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            for (int i = 0; manifest is not null && i < manifest.Chunks.Count; i++)
            {
                if (chunks.Add(manifest.Chunks[i]))
                {
                    bytes += manifest.Layout.LengthOf(i);
                }
            }
        }

        return bytes;
    }

    /// <summary>
    /// Decides, during a compaction of the chunk log, which chunks are dropped: those that are not
    /// pinned (nor were since the pass started, <paramref name="released"/>), not reachable when
    /// <paramref name="live"/> is given, and, with <paramref name="keepRecent"/>, not read since the
    /// previous pass.
    /// </summary>
    private readonly struct ChunkPolicy(
        ContentStore store,
        ConcurrentDictionary<ChunkId, byte> recent,
        HashSet<ChunkId>? live,
        ConcurrentDictionary<ChunkId, byte>? released,
        bool keepRecent)
        : ICompactionFunctions<SpanByte, SpanByte>
    {
        public bool IsDeleted(ref SpanByte key, ref SpanByte value)
        {
            var id = ChunkId.Read(key.AsReadOnlySpan());
            if (store._inUse.ContainsKey(id) || released?.ContainsKey(id) == true)
            {
                return false;
            }

            bool dropped = (live is null || !live.Contains(id))
                && !(keepRecent && (recent.ContainsKey(id) || store._recentReads.ContainsKey(id)));
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
    /// those are bound to, and the manifests read since then; its parent has the rest. Pinned manifests
    /// (or pinned since the pass started, <paramref name="released"/>) stay. A manifest that nothing
    /// binds in a pinned store (uploaded to the root, its binding still to come) gets one pass of
    /// grace: it is noted in <paramref name="orphans"/> and dropped only if it was in
    /// <paramref name="previousOrphans"/>, the previous pass's.
    /// </summary>
    private readonly struct CatalogPolicy(
        ContentStore store,
        HashSet<ManifestId> liveManifests,
        ConcurrentDictionary<ulong, byte>? recentNames,
        ConcurrentDictionary<ManifestId, byte>? recentManifests,
        ConcurrentDictionary<ManifestId, byte>? released,
        HashSet<ManifestId>? previousOrphans,
        HashSet<ManifestId>? orphans)
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
            if (liveManifests.Contains(id)
                || store._inUseManifests.ContainsKey(id)
                || released?.ContainsKey(id) == true
                || (recentManifests is not null && (recentManifests.ContainsKey(id) || store._recentManifests.ContainsKey(id))))
            {
                return false;
            }

            if (orphans is not null && previousOrphans?.Contains(id) != true)
            {
                orphans.Add(id);
                return false;
            }

            return true;
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
