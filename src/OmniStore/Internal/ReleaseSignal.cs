namespace OmniStore.Internal;

/// <summary>
/// Wakes everyone waiting for the next release of something (memory, room in a queue): a waiter
/// takes <see cref="Next"/> before it looks, and <see cref="Pulse"/> completes that task and starts
/// a new one, so a release between the look and the wait is never missed.
/// </summary>
internal sealed class ReleaseSignal
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next <see cref="Pulse"/>.</summary>
    public Task Next
    {
        get
        {
            lock (_gate)
            {
                return _next.Task;
            }
        }
    }

    /// <summary>Something was released: wakes the waiters of <see cref="Next"/>.</summary>
    public void Pulse()
    {
        TaskCompletionSource released;
        lock (_gate)
        {
            released = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        released.TrySetResult();
    }
}
