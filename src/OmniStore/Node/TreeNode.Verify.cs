using OmniStore.Content;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node;

/// <summary>
/// Verification of the node's store, when a client asks (VERIFY) and on
/// <see cref="TreeNodeOptions.VerifyInterval"/>: every chunk is read and checked; with a repair, a
/// root rewrites what is damaged from its relays' copies and a relay fetches what it dropped again
/// from its parent. One verification runs at a time (docs/storage.md, "Damaged chunks").
/// </summary>
internal sealed partial class TreeNode
{
    /// <summary>How often a VERIFY's requester is told how far the verification has got.</summary>
    internal static readonly TimeSpan VerifyProgressInterval = TimeSpan.FromMilliseconds(250);

    private readonly object _verifyGate = new();
    private VerificationRun? _verification;
    private VerifyResult? _lastVerification;

    /// <summary>What the last verification found; null before the first.</summary>
    internal VerifyResult? LastVerification => Volatile.Read(ref _lastVerification);

    private long _repairedByVerification;

    /// <summary>Chunks that verifications of this node repaired since it started, all runs together.</summary>
    internal long RepairedByVerification => Interlocked.Read(ref _repairedByVerification);

    /// <summary>Reads and checks every chunk of the store, then repairs what a verified copy exists of (as the scheduled verification does).</summary>
    internal Task<VerifyResult> VerifyAsync(IProgress<VerifyProgress>? progress, CancellationToken cancellationToken) =>
        VerifyAsync(repair: true, progress, cancellationToken);

    /// <summary>
    /// Reads and checks every chunk of the store; with <paramref name="repair"/>, repairs what a
    /// verified copy exists of. A verification already running is joined when it repairs or this one
    /// does not ask to; one that only reports is waited for first, and then this one runs. Once
    /// started, a verification runs to its end even when its caller stops waiting (cancelling
    /// <paramref name="cancellationToken"/>); only stopping the node stops it.
    /// </summary>
    internal async Task<VerifyResult> VerifyAsync(bool repair, IProgress<VerifyProgress>? progress, CancellationToken cancellationToken)
    {
        var run = await JoinVerificationAsync(repair, cancellationToken).ConfigureAwait(false);
        using var _ = run.Listen(progress);
        return await run.Result.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The verification that answers a request to verify (with <paramref name="repair"/>): the running one if it does, else a new one.</summary>
    private async Task<VerificationRun> JoinVerificationAsync(bool repair, CancellationToken cancellationToken)
    {
        for (int round = 0; ; round++)
        {
            VerificationRun run;
            lock (_verifyGate)
            {
                if (_stopping.IsCancellationRequested)
                {
                    throw new OmniStoreException(OmniStoreError.Unavailable, "The node is stopping: it starts no verification.");
                }
                if (_verification is not { } running)
                {
                    run = new VerificationRun(repair);
                    _verification = run;
                    run.Start(() => RunVerificationAsync(run));
                    return run;
                }

                run = running;
            }

            if (run.Repair || !repair)
            {
                return run;
            }

            // A report-only verification is running and this one asks for a repair: after it.
            await ((Task)run.Result).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private async Task<VerifyResult> RunVerificationAsync(VerificationRun run)
    {
        try
        {
            var token = _stopping.Token;
            var report = await _store.VerifyAsync(run, token).ConfigureAwait(false);
            var repaired = new List<ChunkId>();
            var left = new List<ChunkId>();
            foreach (var damaged in report.Damaged)
            {
                bool whole = run.Repair && (report.Dropped
                    ? await RefetchFromParentAsync(damaged, token).ConfigureAwait(false)
                    : await RepairFromBelowAsync(damaged.Id, damaged.Length, token).ConfigureAwait(false));
                (whole ? repaired : left).Add(damaged.Id);
            }

            var names = await _store.NamesUsingAsync(left, token).ConfigureAwait(false);
            var result = new VerifyResult(report.Verified, report.Bytes, left, names, repaired);
            Interlocked.Add(ref _repairedByVerification, repaired.Count);
            Volatile.Write(ref _lastVerification, result);
            NodeLog.Verified(_logger, report.Verified + report.Damaged.Count, report.Bytes, report.Damaged.Count, repaired.Count, left.Count, string.Join(", ", names.Take(16)));
            return result;
        }
        finally
        {
            lock (_verifyGate)
            {
                _verification = null;
            }
        }
    }

    /// <summary>
    /// A relay's cache dropped its damaged copy while verifying: a verified one is fetched from the
    /// parent (checked against its id before it is cached). False when the parent has none or
    /// cannot be reached, or the cache cannot hold it.
    /// </summary>
    private async Task<bool> RefetchFromParentAsync(DamagedChunk damaged, CancellationToken cancellationToken)
    {
        if (Parent is null)
        {
            return false;
        }

        try
        {
            var fetched = await _upstream.FetchChunkAsync(damaged.Id, damaged.Length, ChunkReadStatus.Corrupt, child: null, cancellationToken).ConfigureAwait(false);
            bool cached = true;
            if (fetched.Reader is { } reader)
            {
                using (reader)
                {
                    cached = await reader.Fetch.Checked.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            if (cached)
            {
                NodeLog.ChunkRefetched(_logger, damaged.Id.ToString());
                return true;
            }

            NodeLog.ChunkNotRefetched(_logger, damaged.Id.ToString(), "the cache is full");
        }
        catch (OmniStoreException ex)
        {
            NodeLog.ChunkNotRefetched(_logger, damaged.Id.ToString(), ex.Message);
        }

        return false;
    }

    /// <summary>
    /// VERIFY from a client: the verification runs (or is joined), the requester gets a
    /// VERIFY_PROGRESS when it starts, every <see cref="VerifyProgressInterval"/> while it runs (when
    /// it moved) and with its final counts, then VERIFY_RESULT.
    /// </summary>
    private async Task ServeVerifyAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        bool repair = VerifyMessages.DecodeRequest(request.Payload);
        var run = await JoinVerificationAsync(repair, cancellationToken).ConfigureAwait(false);
        var sent = new VerifyProgress(-1, -1, -1);
        while (true)
        {
            // The first says the verification has started, the last gives its final counts.
            bool done = run.Result.IsCompleted;
            var now = run.Latest;
            if (now != sent)
            {
                await connection.RespondAsync(request.Stream, FrameType.VerifyProgress, VerifyMessages.EncodeProgress(now)).ConfigureAwait(false);
                sent = now;
            }

            if (done)
            {
                break;
            }

            await Task.WhenAny(run.Result, Task.Delay(VerifyProgressInterval, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }

        var result = await run.Result.ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.VerifyResult, VerifyMessages.EncodeResult(result)).ConfigureAwait(false);
    }

    /// <summary>At stop: waits for a running verification to see the node stopping, before the store closes.</summary>
    private async Task WaitForVerificationAsync()
    {
        VerificationRun? run;
        lock (_verifyGate)
        {
            run = _verification;
        }

        if (run is not null)
        {
            await ((Task)run.Result).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task VerifyLoopAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    await VerifyAsync(repair: true, progress: null, _stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OmniStoreException or IOException)
                {
                    NodeLog.VerifyFailed(_logger, ex.Message);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or OmniStoreException && _stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// One verification of the store: whether it repairs, its result, and its latest progress, which
    /// it passes on to everyone who listens (the caller that started it and those that joined).
    /// </summary>
    private sealed class VerificationRun(bool repair) : IProgress<VerifyProgress>
    {
        private readonly object _gate = new();
        private IProgress<VerifyProgress>[] _listeners = [];
        private VerifyProgress _latest;
        private Task<VerifyResult>? _result;

        public bool Repair { get; } = repair;

        public Task<VerifyResult> Result => _result!;

        public VerifyProgress Latest
        {
            get
            {
                lock (_gate)
                {
                    return _latest;
                }
            }
        }

        /// <summary>Starts the verification (once, under the node's gate, so that a joiner finds it started).</summary>
        public void Start(Func<Task<VerifyResult>> run) => _result = Task.Run(run, CancellationToken.None);

        public void Report(VerifyProgress value)
        {
            lock (_gate)
            {
                _latest = value;
            }

            foreach (var listener in Volatile.Read(ref _listeners))
            {
                listener.Report(value);
            }
        }

        /// <summary>Passes the progress on to <paramref name="listener"/> until disposed.</summary>
        public IDisposable Listen(IProgress<VerifyProgress>? listener)
        {
            if (listener is null)
            {
                return new Subscription(null, null);
            }

            lock (_gate)
            {
                _listeners = [.. _listeners, listener];
            }

            return new Subscription(this, listener);
        }

        private sealed class Subscription(VerificationRun? run, IProgress<VerifyProgress>? listener) : IDisposable
        {
            public void Dispose()
            {
                if (run is not null)
                {
                    lock (run._gate)
                    {
                        run._listeners = [.. run._listeners.Where(l => l != listener)];
                    }
                }
            }
        }
    }
}
