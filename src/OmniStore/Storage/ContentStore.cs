using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Content;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

/// <summary>
/// The one store of a node: chunks, manifests and name bindings, on Microsoft.FASTER.Core.
/// Chunks live in one FASTER table (<c>data/</c>), manifests and bindings in another
/// (<c>catalog/</c>) so that eviction and reclamation scan chunks without touching the catalog,
/// and rebuilding the set of live chunks reads only the small catalog. See docs/storage.md.
/// </summary>
/// <remarks>
/// Thread safety: every member may be called concurrently. Durability: writes become durable at
/// the next completed <see cref="CommitAsync"/>, which checkpoints the data table before the
/// catalog, so a recovered binding always points at a manifest whose chunks were recovered too.
/// </remarks>
internal sealed partial class ContentStore : IAsyncDisposable, IDisposable
{
    private const int CatalogPageSizeBits = 22; // 4 MiB: a manifest part (1 MiB) plus headers always fits
    private const int FullCheckpointEvery = 32;
    private const long CatalogSegmentSize = 1L << 24;

    private readonly ContentStoreOptions _options;
    private readonly ILogger _logger;
    private readonly FileStream _lock;
    private readonly FasterTable _data;
    private readonly FasterTable _catalog;
    private ConcurrentDictionary<ChunkId, byte> _recentReads = new();

    // Where the chunk log last had each chunk, for reads that bypass FASTER's (see TryReadChunkDirect).
    private readonly ChunkLocationCache _locations = new();
    private long _directReads;
    private long _hits;
    private long _unboundSinceReclaim;
    private long _misses;
    private long _evictedBytes;
    private int _disposed;

    private ContentStore(ContentStoreOptions options, ILogger logger, FileStream lockFile, FasterTable data, FasterTable catalog)
    {
        _options = options;
        _logger = logger;
        _lock = lockFile;
        _data = data;
        _catalog = catalog;
        LoadDamaged();
    }

    /// <summary>The directory that holds the store.</summary>
    public string Directory => _options.Directory;

    /// <summary>Whether the store is open: false once it is being closed (a node's readiness says so).</summary>
    internal bool IsOpen => Volatile.Read(ref _disposed) == 0;

    /// <summary>The store's mode.</summary>
    public StoreMode Mode => _options.Mode;

    /// <summary>Bytes of log held (chunk and catalog logs, live or awaiting reclamation).</summary>
    public long UsedBytes => _data.LogBytes + _catalog.LogBytes;

    /// <summary>The chunk log's writes: straight to the disk, and through the page cache.</summary>
    internal (long Direct, long Buffered) DataLogWrites => _data.DeviceWrites;

    /// <summary>Whether the chunk log's file system takes direct writes.</summary>
    internal bool DataLogWritesDirectly => _data.WritesDirectly;

    /// <summary>The configured capacity, or 0 for none.</summary>
    public long Capacity => _options.Capacity;

    /// <summary>Chunk reads that found the chunk.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Chunk reads served straight from the log file (a subset of <see cref="Hits"/>).</summary>
    internal long DirectReads => Interlocked.Read(ref _directReads);

    /// <summary>Writes the chunk log to disk and drops it from memory, so chunks are read from disk (tests).</summary>
    internal void EvictChunkLogFromMemory() => _data.EvictFromMemory();

    /// <summary>Chunk reads that did not find the chunk.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Bytes of log dropped by eviction or reclamation since the store was opened.</summary>
    public long EvictedBytes => Interlocked.Read(ref _evictedBytes);

    /// <summary>Opens (or creates) the store in <see cref="ContentStoreOptions.Directory"/>, recovering its last checkpoint.</summary>
    /// <exception cref="OmniStoreException">
    /// <see cref="OmniStoreError.Unavailable"/> if another process has it open; <see cref="OmniStoreError.Corrupt"/>,
    /// with one line naming the damaged file and what can be done, if a file is missing, cut short or
    /// altered: the store never starts with less than its last commit holds (see docs/storage.md).
    /// </exception>
    public static ContentStore Open(ContentStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        System.IO.Directory.CreateDirectory(options.Directory);
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(Path.Combine(options.Directory, "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The store in '{options.Directory}' is in use by another process.", ex);
        }

        FasterTable? data = null;
        FasterTable? catalog = null;
        try
        {
            // FASTER cannot recover a log with another page or segment size, so the sizes chosen at
            // creation are kept in the store's descriptor and win over the options on every later open.
            var (descriptor, saved) = LoadDescriptor(options);
            int pageBits = descriptor.DataPageSizeBits;
            // The largest chunk is the store's, from its page size: the options' value only sizes
            // a new store's pages (an existing store takes what its pages hold, more or less than asked).
            options = options with { MaxChunkSize = descriptor.MaxChunkSize };

            long memory = Math.Max(options.LogMemory == 0 ? 4L << pageBits : options.LogMemory, 2L << pageBits);
            long segment = descriptor.DataSegmentSizeBits != 0 ? 1L << descriptor.DataSegmentSizeBits : DataSegmentSize(options, pageBits);
            if (segment != DataSegmentSize(options, pageBits))
            {
                StoreLog.SegmentSizeKept(logger ?? NullLogger.Instance, options.Directory, segment, DataSegmentSize(options, pageBits));
            }
            // A pinned store's commits must survive a machine crash; a cache's need only survive its
            // process, since every chunk is verified when read and anything lost is fetched again.
            var durability = options.Mode == StoreMode.Pinned ? CommitDurability.Fsync : CommitDurability.OperatingSystem;

            // Every store since format 2 has a commit record per table; one written before has none yet.
            bool requireRecords = saved?.Format >= 2;
            var chunkLimits = new RecordLimits(ChunkId.Size, ChunkId.Size, descriptor.MaxChunkSize);
            var catalogLimits = new RecordLimits(1, 1 + ObjectName.MaxByteLength, ManifestPartSize);

            // Chunks never change once written, so nothing needs the log's mutable region: pages are
            // flushed as soon as they fill, instead of when their buffer is needed again (which made
            // every writer wait for a whole page to reach the disk).
            data = new FasterTable(
                Path.Combine(options.Directory, "data"),
                new FasterTableSizing(pageBits, memory, segment, IndexSize: 1L << 22, MutableFraction: 0.1),
                durability,
                new TableIntegrity("data", chunkLimits, DigestRecords: false, requireRecords, StoreDescriptor.FileName));
            catalog = new FasterTable(
                Path.Combine(options.Directory, "catalog"),
                new FasterTableSizing(CatalogPageSizeBits, 4L << CatalogPageSizeBits, CatalogSegmentSize, IndexSize: 1L << 20),
                durability,
                new TableIntegrity("catalog", catalogLimits, DigestRecords: true, requireRecords, "this version of OmniStore"));
            var store = new ContentStore(options, logger ?? NullLogger.Instance, lockFile, data, catalog);

            if (saved == descriptor && data.Recovered && catalog.Recovered)
            {
                // Opened from checkpoints of the current format: what the tables hold is what those
                // checkpoints hold, durable already. No checkpoint here (it cost a read-only command
                // most of its time); the first commit of this process is a full one all the same.
                store.NoteOpenedCommitted();
            }
            else
            {
                // A first full checkpoint gives recovery its base: without one, nothing written before
                // the first commit's checkpoint could be recovered. It also writes both commit records,
                // after which the descriptor (new, or of an older format) is written: a store with
                // committed data always has both.
                store.CommitAsync(CancellationToken.None).GetAwaiter().GetResult();
                if (saved != descriptor)
                {
                    descriptor.Save(options.Directory, durable: true);
                }
            }

            if (options.Mode == StoreMode.Pinned)
            {
                store.OpenJournal();
            }

            store.StartBackgroundCheckpoints();
            // A pass that was due (or under way) when the store was last closed goes on now.
            store.LoadGarbageEstimate();
            store.StartBackgroundPassIfDue();
            return store;
        }
        catch (Exception ex)
        {
            catalog?.Dispose();
            data?.Dispose();
            lockFile.Dispose();
            if (ex is OmniStoreException { Error: OmniStoreError.Corrupt } damage)
            {
                throw Damaged(options, damage);
            }

            throw;
        }
    }

    /// <summary>
    /// The descriptor to open the store with, and the one on disk (null for a new store). A store
    /// without one must hold nothing committed: its descriptor was written after its first commit.
    /// </summary>
    private static (StoreDescriptor Descriptor, StoreDescriptor? Saved) LoadDescriptor(ContentStoreOptions options)
    {
        var saved = StoreDescriptor.Load(options.Directory);
        if (saved is null)
        {
            if (StoreDescriptor.FindCommittedData(options.Directory, ["data", "catalog"]) is { } evidence)
            {
                throw new OmniStoreException(OmniStoreError.Corrupt, $"{StoreDescriptor.FileName} is missing, but {evidence} shows committed data");
            }

            int pageBits = options.DataPageSizeBits;
            return (new StoreDescriptor { DataPageSizeBits = pageBits, DataSegmentSizeBits = BitLength(DataSegmentSize(options, pageBits)) - 1 }, null);
        }

        // Format 1 kept no segment size: it followed the capacity, as it still does for such a store
        // until this open upgrades its descriptor and records the size it was opened with.
        return saved.Format >= 2
            ? (saved, saved)
            : (saved with { Format = StoreDescriptor.CurrentFormat, DataSegmentSizeBits = BitLength(DataSegmentSize(options, saved.DataPageSizeBits)) - 1 }, saved);
    }

    /// <summary>The chunk log's segment size for a new store: an eighth of the capacity (space is freed in whole segments), at most 1 GiB.</summary>
    private static long DataSegmentSize(ContentStoreOptions options, int pageBits) =>
        Math.Max(1L << pageBits, options.Capacity == 0 ? 1L << 30 : Math.Min(1L << 30, RoundDownToPowerOfTwo(options.Capacity / 8)));

    private static int BitLength(long value) => 64 - (int)ulong.LeadingZeroCount((ulong)value);

    /// <summary>The one line a damaged store is refused with: where, what, and what can be done today.</summary>
    private static OmniStoreException Damaged(ContentStoreOptions options, OmniStoreException damage)
    {
        string action = options.Mode == StoreMode.Cache
            ? $"It is a cache: remove '{options.Directory}' and start again, and it refills from its parent."
            : $"Nothing in it is served until it is whole again: restore '{options.Directory}' from a copy.";
        return new OmniStoreException(OmniStoreError.Corrupt, $"The store in '{options.Directory}' is damaged and was not opened: {damage.Message.TrimEnd('.')}. {action}", damage);
    }

    // ---- chunks ----

    /// <summary>Whether the store holds chunk <paramref name="id"/>.</summary>
    public async ValueTask<bool> ContainsChunkAsync(ChunkId id, CancellationToken cancellationToken = default)
    {
        if (_pending.ContainsKey(id))
        {
            return true; // written behind, soon
        }

        var key = ChunkKey(id);
        while (true)
        {
            // A copy in the part of the log a pass is compacting right now may be one it drops (see
            // WriteChunk): the step is waited for, and the chunk looked up again.
            long stepUntil = Volatile.Read(ref _stepUntil);
            if (HasChunkOnDisk(id, key, stepUntil))
            {
                return true;
            }

            var (found, output, address) = await _data.ReadAsync(key, new ReadInput { Mode = ReadMode.LengthOnly }, cancellationToken).ConfigureAwait(false);
            if (!found || address >= stepUntil)
            {
                if (found)
                {
                    _locations.Remember(id, address, output.Length);
                }

                return found;
            }

            while (IsBeingCompacted(address))
            {
                await Task.Delay(1, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Stores a chunk unless it is already present (dedup); returns whether it was written. The
    /// caller has checked that <paramref name="data"/> hashes to <paramref name="id"/>.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.StoreFull"/> in a pinned store with no room.</exception>
    public bool WriteChunk(ChunkId id, ReadOnlySpan<byte> data) =>
        !_pending.ContainsKey(id) && WriteChunkNow(id, data); // a chunk waiting to be written behind is there already

    private bool WriteChunkNow(ChunkId id, ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        using var work = BeginForegroundWork();
        if (data.Length > _options.MaxChunkSize)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A chunk of {data.Length} bytes exceeds this store's maximum of {_options.MaxChunkSize}, the size it was made for; use a smaller chunk size, or a store made for larger chunks.");
        }

        if (IsDamaged(id))
        {
            // A write of a damaged chunk's id brings a copy: it replaces the damaged record.
            return RepairChunk(id, data);
        }

        // A copy in the part of the log that a pass's step is compacting may be one the step drops:
        // the caller pinned the chunk first, but perhaps after the step judged it. So the step is
        // waited for (a fraction of a second), after which the chunk was either copied to the tail
        // or is gone, and it is looked up again. Rewriting it at once instead would upsert a key
        // whose record may leave memory meanwhile, which FASTER 2.6.5 can answer with an abandoned
        // allocation that its own scans misread (docs/storage.md, "Reclaiming space").
        var key = ChunkKey(id);
        while (true)
        {
            long stepUntil = Volatile.Read(ref _stepUntil);
            if (HasChunkOnDisk(id, key, stepUntil))
            {
                return false;
            }

            var (found, existing, address) = _data.Read(key, new ReadInput { Mode = ReadMode.LengthOnly });
            if (!found)
            {
                break;
            }

            if (address >= stepUntil)
            {
                _locations.Remember(id, address, existing.Length);
                return false;
            }

            while (IsBeingCompacted(address))
            {
                Thread.Sleep(1);
            }
        }

        EnsureRoom(data.Length);
        _locations.Remember(id, _data.Upsert(key, data), data.Length);
        NoteWritten();
        return true;
    }

    /// <summary>
    /// Reads chunk <paramref name="id"/> into <paramref name="destination"/> and verifies it. A chunk
    /// that fails verification is reported as <see cref="ChunkReadStatus.Corrupt"/>: dropped from a
    /// cache, kept marked damaged in a pinned store (see <see cref="RepairChunk"/>).
    /// </summary>
    public async ValueTask<ChunkReadResult> ReadChunkAsync(ChunkId id, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        using var work = BeginForegroundWork();
        var key = ChunkKey(id);
        if (IsDamaged(id))
        {
            Interlocked.Increment(ref _misses);
            return new ChunkReadResult(ChunkReadStatus.Corrupt, 0);
        }

        if (TryReadPending(id, destination) is { } pending)
        {
            return pending;
        }

        if (TryReadChunkDirect(id, key, destination) is { } direct)
        {
            return direct;
        }

        var (found, output, address) = await _data.ReadAsync(key, new ReadInput { Mode = ReadMode.CopyToDestination, Destination = destination }, cancellationToken).ConfigureAwait(false);
        return Verify(id, key, found, output, address, destination);
    }

    /// <summary>Synchronous <see cref="ReadChunkAsync"/>, for the span-based API.</summary>
    public ChunkReadResult ReadChunk(ChunkId id, Memory<byte> destination)
    {
        using var work = BeginForegroundWork();
        var key = ChunkKey(id);
        if (IsDamaged(id))
        {
            Interlocked.Increment(ref _misses);
            return new ChunkReadResult(ChunkReadStatus.Corrupt, 0);
        }

        if (TryReadPending(id, destination) is { } pending)
        {
            return pending;
        }

        if (TryReadChunkDirect(id, key, destination) is { } direct)
        {
            return direct;
        }

        var (found, output, address) = _data.Read(key, new ReadInput { Mode = ReadMode.CopyToDestination, Destination = destination });
        return Verify(id, key, found, output, address, destination);
    }

    private ChunkReadResult Verify(ChunkId id, byte[] key, bool found, ReadOutput output, long address, Memory<byte> destination)
    {
        if (!found)
        {
            Interlocked.Increment(ref _misses);
            return new ChunkReadResult(ChunkReadStatus.Missing, 0);
        }

        if (!output.Copied)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Chunk {id} has {output.Length} bytes; {destination.Length} were expected.");
        }

        if (!id.Matches(destination.Span[..output.Length]))
        {
            OnCorrupt(id, key);
            Interlocked.Increment(ref _misses);
            return new ChunkReadResult(ChunkReadStatus.Corrupt, 0);
        }

        _locations.Remember(id, address, output.Length);
        return Found(id, output.Length);
    }

    private ChunkReadResult Found(ChunkId id, int length)
    {
        _recentReads.TryAdd(id, 0);
        Interlocked.Increment(ref _hits);
        return new ChunkReadResult(ChunkReadStatus.Found, length);
    }

    // ---- where chunks are on disk ----

    /// <summary>
    /// Reads a chunk from where the log last had it on disk, without FASTER's read path (see
    /// <see cref="FasterTable.TryReadValue"/>); null when that location is unknown, in memory, gone
    /// or holds something else, and then the caller reads through FASTER. Content addressing makes a
    /// remembered location safe to use however stale: bytes that hash to the id are the chunk.
    /// </summary>
    private ChunkReadResult? TryReadChunkDirect(ChunkId id, byte[] key, Memory<byte> destination)
    {
        if (!_locations.TryGet(id, out var location) || location.Length > destination.Length || _data.IsInMemory(location.Address))
        {
            return null; // unknown, or in FASTER's memory, from where its own read is a copy
        }

        var value = destination[..location.Length];
        if (!_data.TryReadValue(location.Address, key, value) || !id.Matches(value.Span))
        {
            // Moved by a compaction, dropped, or damaged: FASTER's read finds out which (and
            // drops a corrupt chunk), and remembers where the chunk is now.
            _locations.Forget(id, location);
            return null;
        }

        Interlocked.Increment(ref _directReads);
        return Found(id, location.Length);
    }

    /// <summary>Whether the remembered location of <paramref name="id"/> is on disk, at or above <paramref name="stepUntil"/>, and still holds its record.</summary>
    private bool HasChunkOnDisk(ChunkId id, byte[] key, long stepUntil)
    {
        if (!_locations.TryGet(id, out var location) || _data.IsInMemory(location.Address) || location.Address < stepUntil)
        {
            return false;
        }

        if (_data.TryReadValueHeader(location.Address, key, location.Length))
        {
            return true;
        }

        _locations.Forget(id, location);
        return false;
    }

    /// <summary>How many chunk locations the store remembers (tests).</summary>
    internal int RememberedLocations => _locations.Count;

    private static byte[] ChunkKey(ChunkId id)
    {
        var key = new byte[ChunkId.Size];
        id.Write(key);
        return key;
    }

    /// <summary>Synchronous <see cref="VerifyAsync"/> without progress: chunks that verified, and chunks found damaged or malformed.</summary>
    public (long Verified, long Dropped) VerifyAllChunks()
    {
        var report = Verify(progress: null, CancellationToken.None);
        return (report.Verified, report.Damaged.Count + report.Malformed);
    }

    private static long RoundDownToPowerOfTwo(long value) => value <= 1 ? 1 : 1L << (63 - (int)ulong.LeadingZeroCount((ulong)value));

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <inheritdoc/>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        // Chunks waiting to be written behind are written, then committed below with the rest.
        StopWriteBehind();

        // A background pass stops within one step; what it did is committed below.
        await StopPassesAsync().ConfigureAwait(false);
        await StopBackgroundCheckpointsAsync().ConfigureAwait(false);
        try
        {
            // Nothing written or dropped since the last completed commit (a command that only
            // read): the files already hold what a commit would write, and a checkpoint with its
            // fsyncs would only slow the process's exit.
            if (!IsCommitted)
            {
                await CommitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (OmniStoreException ex)
        {
            StoreLog.FinalCheckpointFailed(_logger, ex, Directory);
        }

        // After a last commit the journal's current file holds nothing (and goes); else what it holds is replayed at the next open.
        _journal?.Close(removeIfEmpty: IsCommitted);

        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _data.Dispose();
        _catalog.Dispose();
        foreach (var gate in _nameLocks)
        {
            gate.Dispose();
        }

        _passGate.Dispose();
        _stopPasses.Dispose();

        await _lock.DisposeAsync().ConfigureAwait(false);
    }
}
