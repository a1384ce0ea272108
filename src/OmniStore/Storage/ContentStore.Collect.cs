using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using OmniStore.Content;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

/// <summary>Who asked for a pass, which decides what it drops and when it runs.</summary>
internal enum PassKind
{
    /// <summary>A writer needs room in a store with a capacity: a cache evicts, a pinned store reclaims.</summary>
    Room,

    /// <summary>
    /// Reclaims the space of what no binding reaches, in every mode: in the background when the
    /// unreachable share of a pinned store's log passes <see cref="ContentStoreOptions.ReclaimFraction"/>,
    /// or when asked (<c>omnistore gc</c>).
    /// </summary>
    Collect,
}

/// <summary>How far a pass has come: bytes of the chunk log scanned, of those it set out to scan.</summary>
internal readonly record struct ReclaimProgress(long Scanned, long Total);

/// <summary>What one pass did, in bytes of log (between begin and tail) and of reachable chunks.</summary>
internal readonly record struct PassOutcome(long LogBefore, long LogAfter, long LiveBytes, bool Compacted, bool Completed);

/// <summary>
/// What <see cref="ContentStore.CollectGarbageAsync"/> did: the store's files on disk (allocated
/// bytes) and its logs before and after, and the bytes of chunks that bindings reach.
/// </summary>
internal readonly record struct ReclaimSummary(long DiskBefore, long DiskAfter, long LogBefore, long LogAfter, long LiveBytes, bool Compacted)
{
    /// <summary>Bytes of disk given back.</summary>
    public long Freed => Math.Max(0, DiskBefore - DiskAfter);
}

/// <summary>
/// Reclaiming the space of unreachable content with no capacity to trigger it: a cheap estimate of
/// what became unreachable, kept in the catalog, starts a background pass when it passes a share of
/// the log; <see cref="CollectGarbageAsync"/> runs one now. See docs/storage.md, "Reclaiming space".
/// </summary>
internal sealed partial class ContentStore
{
    /// <summary>The file, in the store's directory, that keeps the garbage estimate between opens.</summary>
    internal const string EstimateFileName = "reclaim.estimate";

    /// <summary>
    /// Pages of the chunk log a pass compacts per step: a step is what a Put or Get that starts
    /// meanwhile shares the disk with, and a stop request waits for one step at most.
    /// </summary>
    private const int PagesPerStep = 1;

    /// <summary>
    /// How long no chunk may have been read or written before a pass that saw Puts or Gets takes its
    /// next step: the pass runs in the gaps between them, not alongside them.
    /// </summary>
    private static readonly TimeSpan QuietGap = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// The longest a pass waits for a quiet gap: under constant load it still goes on, a piece of
    /// read-ahead (<see cref="ReadAheadPiece"/>, a few milliseconds of disk) this often.
    /// </summary>
    private static readonly TimeSpan MaxYield = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// What a pass reads ahead at once of the page its next step compacts (see
    /// <see cref="ReadAheadYielding"/>): the longest a Put or Get that starts meanwhile shares the
    /// disk with it.
    /// </summary>
    private const int ReadAheadPiece = 1 << 20;

    // Chunk reads and writes started so far, and those under way (not the pass's own): a pass yields
    // when the count moved during a step, until it stays put with none under way (a writer waiting
    // in FASTER for a page to be flushed is still writing).
    private long _foregroundWork;
    private int _foregroundInFlight;

    /// <summary>Counts a chunk read or write (or a commit) as started and under way until the result is disposed.</summary>
    private ForegroundWork BeginForegroundWork()
    {
        Interlocked.Increment(ref _foregroundInFlight);
        Interlocked.Increment(ref _foregroundWork);
        return new ForegroundWork(this);
    }

    /// <summary>A piece of foreground work under way: disposing it ends it.</summary>
    private readonly struct ForegroundWork(ContentStore store) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref store._foregroundInFlight);
    }

    /// <summary>
    /// Before a step: if Puts or Gets read or wrote a chunk since <paramref name="workBefore"/> was
    /// read (during the previous step), waits until <see cref="QuietGap"/> passes with none started
    /// and none under way, or
    /// <see cref="MaxYield"/> at most. With none (an idle store, omnistore gc) it returns at once.
    /// Returns the count to compare with after the next step.
    /// </summary>
    private long YieldToForeground(long workBefore, CancellationToken stop)
    {
        long work = Interlocked.Read(ref _foregroundWork);
        if (work == workBefore && Volatile.Read(ref _foregroundInFlight) == 0)
        {
            return work;
        }

        long deadline = Stopwatch.GetTimestamp() + (long)(MaxYield.TotalSeconds * Stopwatch.Frequency);
        while (!stop.IsCancellationRequested && Stopwatch.GetTimestamp() < deadline)
        {
            stop.WaitHandle.WaitOne(QuietGap);
            long now = Interlocked.Read(ref _foregroundWork);
            if (now == work && Volatile.Read(ref _foregroundInFlight) == 0)
            {
                break;
            }

            work = now;
        }

        return Interlocked.Read(ref _foregroundWork);
    }

    /// <summary>
    /// Reads the part of the chunk log between <paramref name="from"/> and <paramref name="until"/>
    /// that is on disk into the page cache, <see cref="ReadAheadPiece"/> at a time, yielding to Puts
    /// and Gets between pieces (<see cref="YieldToForeground"/>). The step that then compacts the
    /// range reads it from memory: the disk time of a pass, its main cost, is spent in pieces short
    /// enough that a transfer starting meanwhile hardly notices, and in the gaps between transfers.
    /// Returns the count to compare with after the next piece of work.
    /// </summary>
    private long ReadAheadYielding(long from, long until, long work, CancellationToken stop)
    {
        byte[] scratch = System.Buffers.ArrayPool<byte>.Shared.Rent(ReadAheadPiece);
        try
        {
            for (long address = from; address < until && !stop.IsCancellationRequested;)
            {
                int read = _data.ReadAhead(address, (int)Math.Min(ReadAheadPiece, until - address), scratch);
                if (read == 0)
                {
                    break;
                }

                address += read;
                work = YieldToForeground(work, stop);
            }

            return work;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    // One pass at a time, whoever starts it: a writer that needs room, the background, gc.
    private readonly SemaphoreSlim _passGate = new(1, 1);

    // While a pass compacts the chunk log: the end of the range its current step scans (0 otherwise).
    // A chunk found in [begin, this) may have been judged before the finder pinned it, and dropped:
    // the finder waits for the step (IsBeingCompacted) and looks again.
    private long _stepUntil;

    // While a pass runs: chunks and manifests whose pin was released since it started, kept as if
    // still pinned (a Put that pinned them may have bound them after the pass read the catalog).
    private ConcurrentDictionary<ChunkId, byte>? _releasedChunks;
    private ConcurrentDictionary<ManifestId, byte>? _releasedManifests;

    // Manifests that no binding reached at the previous pass of a pinned store (see CatalogPolicy).
    private HashSet<ManifestId> _orphanManifests = [];

    // Bytes of objects unbound or replaced since the last completed pass (an upper bound of what
    // became unreachable: dedup can keep some of it reachable). Written to EstimateFileName at the
    // commits after it changed (not to the catalog: rewriting one catalog key at every unbinding
    // is an in-place update FASTER may have to relocate, see WriteChunk).
    private long _garbageEstimate;
    private int _estimateChanged;

    // Manifests unbound (or replaced) in a pinned store whose unbinding no completed catalog checkpoint
    // holds yet, with the number of catalog checkpoints started when it was written: a crash may
    // recover the catalog binding them still, so passes keep them and their chunks.
    private readonly ConcurrentDictionary<ManifestId, long> _unboundNotDurable = new();

    // Manifests whose binding is being replaced right now (counts): listed before the write, so a pass
    // that reads the catalog after the write finds them here or in _unboundNotDurable (see RebindAsync).
    private readonly ConcurrentDictionary<ManifestId, int> _unbinding = new();
    private long _catalogCheckpointsStarted;

    private readonly Lock _backgroundLock = new();
    private readonly CancellationTokenSource _stopPasses = new();
    private Task _background = Task.CompletedTask;
    private bool _backgroundRunning;

    // The running (or last) pass's progress, for a display that polls it.
    private long _passScanned, _passTotal;

    /// <summary>How far the running (or last) reclamation pass has scanned the chunk log.</summary>
    internal ReclaimProgress PassProgress => new(Interlocked.Read(ref _passScanned), Interlocked.Read(ref _passTotal));

    /// <summary>Whether the record at <paramref name="address"/> is in the range a pass's step is compacting now.</summary>
    private bool IsBeingCompacted(long address) => address < Volatile.Read(ref _stepUntil) && address >= _data.Kv.Log.BeginAddress;

    /// <summary>Bytes of objects unbound or replaced since the last completed reclamation pass (tests, status).</summary>
    internal long GarbageEstimate => Interlocked.Read(ref _garbageEstimate);

    /// <summary>
    /// Runs a reclamation pass now, after any pass already running: drops every chunk and manifest no
    /// binding reaches (in a cache, also unread since its previous pass), if that is at least two log
    /// pages, then commits, which gives the space back to the disk. Puts and Gets go on meanwhile.
    /// Cancelling stops the pass within one step; what it did is kept and committed.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled: the store is consistent, and the next pass goes on from where this one stopped.</exception>
    public async Task<ReclaimSummary> CollectGarbageAsync(IProgress<ReclaimProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        long diskBefore = StoreDiskUsage.AllocatedBytes(Directory);

        // Unbinds become durable first, so the pass need not keep their content for a crash's sake.
        await CommitAsync(cancellationToken).ConfigureAwait(false);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopPasses.Token);
        var outcome = await Task.Factory.StartNew(
            () => RunPass(PassKind.Collect, 0, 2L << _data.PageSizeBits, progress, stop.Token),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default).ConfigureAwait(false);

        // The checkpoint names the new begin addresses: FASTER removes the segments below them and
        // the store gives back the blocks below them in theirs (FasterTable.ReleaseBelowBegin).
        await CommitAsync(CancellationToken.None).ConfigureAwait(false);
        _data.WaitForRemovedSegments(TimeSpan.FromSeconds(10));
        _catalog.WaitForRemovedSegments(TimeSpan.FromSeconds(10));
        cancellationToken.ThrowIfCancellationRequested();
        return new ReclaimSummary(diskBefore, StoreDiskUsage.AllocatedBytes(Directory), outcome.LogBefore, UsedBytes, outcome.LiveBytes, outcome.Compacted);
    }

    /// <summary>
    /// Counts the object <paramref name="manifestId"/> described, just unbound or replaced, towards the
    /// garbage estimate (which the catalog keeps), and starts a background pass if one is due. Called
    /// after the binding was written.
    /// </summary>
    private async ValueTask NoteUnboundAsync(ManifestId manifestId)
    {
        if (Mode != StoreMode.Pinned)
        {
            return;
        }

        long length = await ManifestLengthAsync(manifestId).ConfigureAwait(false);
        Interlocked.Add(ref _garbageEstimate, length);
        GarbageEstimateChanged();

        StartBackgroundPassIfDue();
    }

    /// <summary>The length of the object a manifest describes, from its header alone; 0 if it is gone or malformed.</summary>
    private async ValueTask<long> ManifestLengthAsync(ManifestId id)
    {
        var key = new byte[1 + ManifestId.Size + 4];
        WriteManifestKey(key, id, 0);
        var header = new byte[Manifest.HeaderSize];
        bool found;
        ReadOutput output;
        try
        {
            (found, output, _) = await _catalog.ReadAsync(key, new ReadInput { Mode = ReadMode.Prefix, Destination = header }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (OmniStoreException)
        {
            return 0; // unreadable: the binding is written, and a pass finds out what is reachable anyway
        }

        return found && output.Length >= header.Length && Manifest.TryReadEncodedLength(header, out _)
            ? Math.Max(0, BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(8)))
            : 0;
    }

    /// <summary>Notes that the garbage estimate changed: the next commit writes it (<see cref="SaveGarbageEstimate"/>).</summary>
    private void GarbageEstimateChanged() => Volatile.Write(ref _estimateChanged, 1);

    /// <summary>
    /// After a commit: writes the garbage estimate if it changed, so a pass due when the process
    /// stopped runs after the next open. Atomic (a rename), not fsynced: it is an estimate, and a
    /// crash loses at most what the last commit added.
    /// </summary>
    private void SaveGarbageEstimate()
    {
        if (Mode != StoreMode.Pinned || Interlocked.Exchange(ref _estimateChanged, 0) == 0)
        {
            return;
        }

        Span<byte> value = stackalloc byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(value, Math.Max(0, Interlocked.Read(ref _garbageEstimate)));
        try
        {
            DurableFile.Write(Path.Combine(Directory, EstimateFileName), value, durable: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            GarbageEstimateChanged(); // the next commit tries again
        }
    }

    /// <summary>Reads the garbage estimate at open; a file missing, not 8 bytes long or negative counts as 0.</summary>
    private void LoadGarbageEstimate()
    {
        long estimate = 0;
        try
        {
            var bytes = File.ReadAllBytes(Path.Combine(Directory, EstimateFileName));
            estimate = bytes.Length == sizeof(long) ? BinaryPrimitives.ReadInt64LittleEndian(bytes) : 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        Interlocked.Exchange(ref _garbageEstimate, Math.Max(0, estimate));
        if (estimate > 0)
        {
            Interlocked.Increment(ref _unboundSinceReclaim); // a full pinned store may reclaim it too
        }
    }

    /// <summary>
    /// Whether a background pass is due: a pinned store whose garbage estimate is at least
    /// <see cref="ContentStoreOptions.ReclaimFraction"/> of its chunk log, and two log pages (a pass
    /// gives back whole pages).
    /// </summary>
    private bool BackgroundPassIsDue()
    {
        long garbage = Interlocked.Read(ref _garbageEstimate);
        return Mode == StoreMode.Pinned
            && _options.ReclaimFraction > 0
            && garbage >= 2L << _data.PageSizeBits
            && garbage >= _options.ReclaimFraction * _data.LogBytes;
    }

    private void StartBackgroundPassIfDue()
    {
        if (!BackgroundPassIsDue())
        {
            return;
        }

        lock (_backgroundLock)
        {
            if (_backgroundRunning || _stopPasses.IsCancellationRequested)
            {
                return;
            }

            _backgroundRunning = true;
            _background = Task.Factory.StartNew(RunBackgroundPass, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// The background pass, on a thread of its own: commits (so the unbinds that made it due are
    /// durable), reclaims, and commits again to give the space back. Puts and Gets go on meanwhile;
    /// disposal stops it within one step. A failure is logged and the store keeps serving.
    /// </summary>
    private void RunBackgroundPass()
    {
        try
        {
            StoreLog.BackgroundPassStarted(_logger, Directory, Interlocked.Read(ref _garbageEstimate), _data.LogBytes);
            CommitAsync(CancellationToken.None).GetAwaiter().GetResult();
            var outcome = RunPass(PassKind.Collect, 0, 2L << _data.PageSizeBits, null, _stopPasses.Token);
            if (outcome.Compacted)
            {
                CommitAsync(CancellationToken.None).GetAwaiter().GetResult();
            }
        }
        catch (OperationCanceledException) when (_stopPasses.IsCancellationRequested)
        {
            // Disposal: the pass stopped between two steps; the next open goes on.
        }
        catch (Exception ex) when (ex is OmniStoreException or IOException or FASTER.core.FasterException or ObjectDisposedException)
        {
            StoreLog.BackgroundPassFailed(_logger, ex, Directory);
        }
        finally
        {
            lock (_backgroundLock)
            {
                _backgroundRunning = false;
            }
        }

        // What was unbound while it ran may make another one due.
        if (!_stopPasses.IsCancellationRequested)
        {
            StartBackgroundPassIfDue();
        }
    }

    /// <summary>Stops a background pass within one step and waits for it (disposal).</summary>
    private async Task StopPassesAsync()
    {
        Task running;
        lock (_backgroundLock)
        {
            _stopPasses.Cancel();
            running = _background;
        }

        await running.ConfigureAwait(false);
    }

    /// <summary>
    /// After catalog checkpoint number <paramref name="checkpoint"/> completed: unbindings written
    /// before it started are durable, and passes need not keep their content any more.
    /// </summary>
    private void ForgetDurableUnbinds(long checkpoint)
    {
        foreach (var (id, written) in _unboundNotDurable)
        {
            if (written < checkpoint)
            {
                _unboundNotDurable.TryRemove(new KeyValuePair<ManifestId, long>(id, written));
            }
        }
    }
}
