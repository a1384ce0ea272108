namespace OmniStore.Storage;

internal sealed partial class ContentStore
{
    private readonly Lock _commitLock = new();
    private TaskCompletionSource? _nextCommit;
    private bool _committing;
    private int _commitCount;

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
            try
            {
                // The data table first: a catalog checkpoint must never name chunks that the data
                // table's recovered checkpoint lacks.
                bool withIndex = _commitCount++ % FullCheckpointEvery == 0;
                await _data.CheckpointAsync(withIndex, CancellationToken.None).ConfigureAwait(false);
                long checkpoint = Interlocked.Increment(ref _catalogCheckpointsStarted);
                await _catalog.CheckpointAsync(withIndex, CancellationToken.None).ConfigureAwait(false);
                NoteCommitCompleted(position);
                ForgetDurableUnbinds(checkpoint);
                SaveGarbageEstimate();
                batch.SetResult();
            }
            catch (Exception ex)
            {
                batch.SetException(ex as OmniStoreException ?? new OmniStoreException(OmniStoreError.Unavailable, $"The checkpoint of {Directory} failed: {ex.Message}", ex));
            }
        }
    }
}
