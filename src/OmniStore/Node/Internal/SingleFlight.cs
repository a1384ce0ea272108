using System.Collections.Concurrent;

namespace OmniStore.Node.Internal;

/// <summary>
/// Coalesces concurrent work for one key into one execution: every caller that asks while it runs
/// waits on the same result. This is what turns a burst of misses for one chunk at a relay into one
/// upstream request. A failed execution is not cached: the next caller starts a new one.
/// </summary>
/// <remarks>
/// The execution is shared, so it runs under the owner's <c>lifetime</c> (the node's), never under
/// the token of the caller that happened to start it: that caller leaving (its child disconnected)
/// must not fail everyone who joined. Each caller applies its own token to its own wait only.
/// A result can own something (a received message the starter answers from): when the caller that
/// started an execution stops waiting before it ends, <c>unclaimed</c> gets the result to release it.
/// </remarks>
internal sealed class SingleFlight<TKey, TValue>(CancellationToken lifetime, Action<TValue>? unclaimed = null)
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Task<TValue>> _running = new();
    private long _executions;
    private long _joined;

    /// <summary>How many executions actually ran.</summary>
    public long Executions => Interlocked.Read(ref _executions);

    /// <summary>How many callers joined an execution that was already running.</summary>
    public long Joined => Interlocked.Read(ref _joined);

    /// <summary>How many executions are running now.</summary>
    public int InFlight => _running.Count;

    /// <summary>
    /// Waits for the execution for <paramref name="key"/>, starting <paramref name="work"/> (with the
    /// lifetime token) if none runs. <paramref name="cancellationToken"/> ends this caller's wait
    /// only, with an <see cref="OperationCanceledException"/>; the execution carries on for the others.
    /// </summary>
    public Task<TValue> RunAsync(TKey key, Func<TKey, CancellationToken, Task<TValue>> work, CancellationToken cancellationToken) =>
        RunAsync(key, work, out _, cancellationToken);

    /// <summary>As <see cref="RunAsync(TKey, Func{TKey, CancellationToken, Task{TValue}}, CancellationToken)"/>; <paramref name="started"/> tells whether this call started the execution.</summary>
    public Task<TValue> RunAsync(TKey key, Func<TKey, CancellationToken, Task<TValue>> work, out bool started, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_running.TryGetValue(key, out var existing))
            {
                Interlocked.Increment(ref _joined);
                started = false;
                return WaitAsync(existing, starter: false, cancellationToken);
            }

            var start = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_running.TryAdd(key, start.Task))
            {
                continue;
            }

            Interlocked.Increment(ref _executions);
            started = true;
            _ = ExecuteAsync(key, work, start);
            return WaitAsync(start.Task, starter: true, cancellationToken);
        }
    }

    private Task<TValue> WaitAsync(Task<TValue> execution, bool starter, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled || execution.IsCompleted)
        {
            return execution;
        }

        var wait = execution.WaitAsync(cancellationToken);
        if (starter && unclaimed is not null)
        {
            // The starter claims the result; if its wait ends first, nobody will.
            _ = wait.ContinueWith(
                (w, e) => ((Task<TValue>)e!).ContinueWith(
                    static (done, release) => ((Action<TValue>)release!)(done.Result),
                    unclaimed, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default),
                execution, CancellationToken.None, TaskContinuationOptions.OnlyOnCanceled | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return wait;
    }

    private async Task ExecuteAsync(TKey key, Func<TKey, CancellationToken, Task<TValue>> work, TaskCompletionSource<TValue> completion)
    {
        try
        {
            completion.SetResult(await work(key, lifetime).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            completion.SetException(ex);

            // Observed here: when every waiter has gone, nobody else looks at the failure.
            _ = completion.Task.Exception;
        }
        finally
        {
            _running.TryRemove(new KeyValuePair<TKey, Task<TValue>>(key, completion.Task));
        }
    }
}
