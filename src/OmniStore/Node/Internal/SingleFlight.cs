using System.Collections.Concurrent;

namespace OmniStore.Node.Internal;

/// <summary>
/// Coalesces concurrent work for one key into one execution: every caller that asks while it runs
/// gets the same task. This is what turns a burst of misses for one chunk at a relay into one
/// upstream request. A failed execution is not cached: the next caller starts a new one.
/// </summary>
internal sealed class SingleFlight<TKey, TValue>
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

    public Task<TValue> RunAsync(TKey key, Func<TKey, Task<TValue>> work) => RunAsync(key, work, out _);

    /// <summary>As <see cref="RunAsync(TKey, Func{TKey, Task{TValue}})"/>; <paramref name="started"/> tells whether this call started the execution.</summary>
    public Task<TValue> RunAsync(TKey key, Func<TKey, Task<TValue>> work, out bool started)
    {
        while (true)
        {
            if (_running.TryGetValue(key, out var existing))
            {
                Interlocked.Increment(ref _joined);
                started = false;
                return existing;
            }

            var start = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_running.TryAdd(key, start.Task))
            {
                continue;
            }

            Interlocked.Increment(ref _executions);
            started = true;
            _ = ExecuteAsync(key, work, start);
            return start.Task;
        }
    }

    private async Task ExecuteAsync(TKey key, Func<TKey, Task<TValue>> work, TaskCompletionSource<TValue> completion)
    {
        try
        {
            completion.SetResult(await work(key).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            completion.SetException(ex);
        }
        finally
        {
            _running.TryRemove(new KeyValuePair<TKey, Task<TValue>>(key, completion.Task));
        }
    }
}
