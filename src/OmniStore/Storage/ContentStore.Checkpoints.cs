using System.Diagnostics;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

/// <summary>
/// Background checkpoints of a cache: a relay acknowledges no write to anyone, so nothing else ever
/// commits its store, and a process killed without warning would reopen it as of its last commit.
/// A checkpoint runs once <see cref="ContentStoreOptions.CheckpointInterval"/> has passed or
/// <see cref="ContentStoreOptions.CheckpointBytes"/> were written since the last commit began,
/// through <see cref="CommitAsync"/> like every other commit (see docs/storage.md, "Background
/// checkpoints").
/// </summary>
internal sealed partial class ContentStore
{
    /// <summary>How long the loop waits after a failed checkpoint before it tries again, so a failing disk is not hammered.</summary>
    private static readonly TimeSpan CheckpointRetryDelay = TimeSpan.FromSeconds(5);

    // Woken by writers when CheckpointBytes were written; the flag keeps them from waking it more
    // than once per round. The count is not capped: an extra wake only makes the loop look again.
    private readonly SemaphoreSlim _checkpointWake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _checkpointStop = new();
    private int _checkpointRequested;
    private Task? _checkpointLoop;
    private long _backgroundCheckpoints;

    // Where both logs stood when the last commit began (what the background triggers count from),
    // and when the last completed one began (what it made durable, for UncommittedBytes).
    private long _commitStartedAt;
    private long _commitStartedWritten;
    private long _commitStartedFreed;
    private long _committedWritten;
    private long _committedFreed;
    private long _committedAtTicks;

    /// <summary>
    /// Bytes of log written since the last completed commit began: what a process killed now would
    /// lose at most (a cache fetches it again; a pinned store never acknowledged it).
    /// </summary>
    public long UncommittedBytes => Math.Max(0, WrittenPosition - Volatile.Read(ref _committedWritten));

    /// <summary>Whether a commit completed and nothing was written to or dropped from either log since.</summary>
    internal bool IsCommitted =>
        Volatile.Read(ref _committedAtTicks) != 0
        && WrittenPosition == Volatile.Read(ref _committedWritten)
        && FreedPosition == Volatile.Read(ref _committedFreed);

    /// <summary>When the last commit completed (UTC); null before the first one.</summary>
    public DateTimeOffset? LastCommit
    {
        get
        {
            long ticks = Volatile.Read(ref _committedAtTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    /// <summary>Background checkpoints completed since the store was opened.</summary>
    public long BackgroundCheckpoints => Interlocked.Read(ref _backgroundCheckpoints);

    /// <summary>
    /// Both logs' tails together: grows by every byte written (chunks, manifests, bindings, and the
    /// copies of an eviction pass), never shrinks. Logical addresses, so it never wraps.
    /// </summary>
    private long WrittenPosition => _data.Kv.Log.TailAddress + _catalog.Kv.Log.TailAddress;

    /// <summary>Both logs' begin addresses together: grows when a pass drops records.</summary>
    private long FreedPosition => _data.Kv.Log.BeginAddress + _catalog.Kv.Log.BeginAddress;

    /// <summary>Called by a commit as it begins: what it will hold at least.</summary>
    private (long Written, long Freed) NoteCommitStarted()
    {
        var position = (WrittenPosition, FreedPosition);
        Volatile.Write(ref _commitStartedWritten, position.Item1);
        Volatile.Write(ref _commitStartedFreed, position.Item2);
        Volatile.Write(ref _commitStartedAt, Stopwatch.GetTimestamp());
        return position;
    }

    /// <summary>Called by a commit once it completed, with what <see cref="NoteCommitStarted"/> returned.</summary>
    private void NoteCommitCompleted((long Written, long Freed) position)
    {
        Volatile.Write(ref _committedWritten, position.Written);
        Volatile.Write(ref _committedFreed, position.Freed);
        Volatile.Write(ref _committedAtTicks, DateTimeOffset.UtcNow.UtcTicks);
    }

    /// <summary>Called by <see cref="Open"/> for a store recovered from its checkpoints: its state is committed as it stands.</summary>
    private void NoteOpenedCommitted() => NoteCommitCompleted(NoteCommitStarted());

    /// <summary>Starts the background checkpoints of a cache store that asks for any; called once, by <see cref="Open"/>.</summary>
    private void StartBackgroundCheckpoints()
    {
        if (Mode != StoreMode.Cache || (_options.CheckpointInterval == TimeSpan.Zero && _options.CheckpointBytes == 0))
        {
            return;
        }

        _checkpointLoop = Task.Run(() => RunBackgroundCheckpointsAsync(_checkpointStop.Token), CancellationToken.None);
    }

    /// <summary>Wakes the background checkpoint once <see cref="ContentStoreOptions.CheckpointBytes"/> were written since the last commit began.</summary>
    private void NoteWritten()
    {
        long threshold = _options.CheckpointBytes;
        if (threshold > 0
            && _checkpointLoop is not null
            && WrittenPosition - Volatile.Read(ref _commitStartedWritten) >= threshold
            && Interlocked.Exchange(ref _checkpointRequested, 1) == 0)
        {
            _checkpointWake.Release();
        }
    }

    private async Task RunBackgroundCheckpointsAsync(CancellationToken stop)
    {
        var interval = _options.CheckpointInterval;
        long threshold = _options.CheckpointBytes;

        // An idle store takes no checkpoints: after a look that found nothing new, the interval
        // counts from that look, so a write just after it waits at most one interval.
        long idleSince = Stopwatch.GetTimestamp();
        while (true)
        {
            long from = Math.Max(Volatile.Read(ref _commitStartedAt), idleSince);
            var wait = interval == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : Max(TimeSpan.Zero, interval - Stopwatch.GetElapsedTime(from));
            try
            {
                await _checkpointWake.WaitAsync(wait, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Volatile.Write(ref _checkpointRequested, 0);
            long written = WrittenPosition - Volatile.Read(ref _commitStartedWritten);
            bool byBytes = threshold > 0 && written >= threshold;
            bool byTime = interval != TimeSpan.Zero && Stopwatch.GetElapsedTime(Math.Max(Volatile.Read(ref _commitStartedAt), idleSince)) >= interval;
            if (!byBytes && !byTime)
            {
                continue; // another commit began meanwhile: the interval counts from it
            }

            if (written == 0 && FreedPosition == Volatile.Read(ref _commitStartedFreed))
            {
                idleSince = Stopwatch.GetTimestamp();
                continue;
            }

            long started = Stopwatch.GetTimestamp();
            try
            {
                await CommitAsync(stop).ConfigureAwait(false);
                Interlocked.Increment(ref _backgroundCheckpoints);
                StoreLog.BackgroundCheckpoint(_logger, Directory, written, byBytes ? "bytes written" : "interval", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return; // closing: the final commit follows
            }
            catch (OmniStoreException ex)
            {
                StoreLog.BackgroundCheckpointFailed(_logger, ex, Directory, CheckpointRetryDelay.TotalSeconds);
                try
                {
                    await Task.Delay(CheckpointRetryDelay, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Stops the background checkpoints and waits for one in progress; the caller's final commit follows.</summary>
    private async ValueTask StopBackgroundCheckpointsAsync()
    {
        if (_checkpointStop.IsCancellationRequested)
        {
            return;
        }

        await _checkpointStop.CancelAsync().ConfigureAwait(false);
        if (_checkpointLoop is { } loop)
        {
            await loop.ConfigureAwait(false);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
