namespace OmniStore.Storage;

internal sealed partial class ContentStore
{
    private readonly Lock _commitLock = new();
    private TaskCompletionSource? _nextCommit;
    private bool _committing;
    private int _commitCount;

    // Set while a commit checkpoints (pinned stores): bindings wait for it (see RunCommitsAsync).
    private TaskCompletionSource? _bindsHeld;

    /// <summary>Waits while a commit checkpoints the chunk table and then the catalog (see RunCommitsAsync).</summary>
    private async ValueTask WaitForCommitToBindAsync(CancellationToken cancellationToken)
    {
        // The caller's chunk writes before this read (full fence): either the commit sees them in
        // the chunk table's checkpoint, or this sees the commit and waits for its end.
        Interlocked.MemoryBarrier();
        while (Volatile.Read(ref _bindsHeld) is { } held)
        {
            await held.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs in a commit after the chunk table's checkpoint and before the catalog's (tests: a write landing then).</summary>
    internal Action? BetweenCheckpoints { get; set; }

    /// <summary>
    /// Makes everything written before the call durable: returns once a checkpoint that started after
    /// the call has completed. Concurrent callers share checkpoints (group commit).
    /// </summary>
    public Task CommitAsync(CancellationToken cancellationToken = default)
    {
        TaskCompletionSource waiter;
        bool start = false;
        lock (_commitLock)
        {
            waiter = _nextCommit ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_committing)
            {
                _committing = true;
                start = true;
            }
        }

        if (start)
        {
            _ = Task.Run(RunCommitsAsync, CancellationToken.None);
        }

        return waiter.Task.WaitAsync(cancellationToken);
    }

    private async Task RunCommitsAsync()
    {
        while (true)
        {
            TaskCompletionSource? batch;
            lock (_commitLock)
            {
                batch = _nextCommit;
                _nextCommit = null;
                if (batch is null)
                {
                    _committing = false;
                    return;
                }
            }

            var position = NoteCommitStarted();
            using var work = BeginForegroundWork(); // a reclamation pass waits for the commit, as for a chunk write

            // Bindings wait from before the chunk table's checkpoint until the catalog's is done: one
            // written in between could reach the catalog's checkpoint with chunks written after the
            // chunk table's began, and a crash would recover it bound to chunks that are not there.
            // A binding written before this is published (with a full fence, as is RebindAsync's
            // look at it) has its chunks written before the chunk table's checkpoint begins.
            var bindsHeld = Mode == StoreMode.Pinned ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null;
            Interlocked.Exchange(ref _bindsHeld, bindsHeld);
            long journal = 0;
            try
            {
                // Records journaled before this were written after their bindings: this commit's
                // checkpoints hold them, and their files go once it completed.
                journal = _journal?.Rotate() ?? 0;

                // The data table first: a catalog checkpoint must never name chunks that the data
                // table's recovered checkpoint lacks.
                bool withIndex = _commitCount++ % FullCheckpointEvery == 0;
                await _data.CheckpointAsync(withIndex, CancellationToken.None).ConfigureAwait(false);
                BetweenCheckpoints?.Invoke();
                long checkpoint = Interlocked.Increment(ref _catalogCheckpointsStarted);
                await _catalog.CheckpointAsync(withIndex, CancellationToken.None).ConfigureAwait(false);
                NoteCommitCompleted(position);
                _journal?.DropBefore(journal);
                ForgetDurableUnbinds(checkpoint);
                SaveGarbageEstimate();
                batch.SetResult();
            }
            catch (Exception ex)
            {
                batch.SetException(ex as OmniStoreException ?? new OmniStoreException(OmniStoreError.Unavailable, $"The checkpoint of {Directory} failed: {ex.Message}", ex));
            }
            finally
            {
                Volatile.Write(ref _bindsHeld, null);
                bindsHeld?.SetResult();
            }
        }
    }
}
