using OmniStore.Protocol;

namespace OmniStore.Node.Internal;

/// <summary>
/// The requests waiting for a name to be bound (WAIT, <see cref="OmniStoreClient.WaitForAsync"/>;
/// docs/watch.md, "WAIT"). Whatever applies a binding at this node wakes them; nothing polls.
/// </summary>
internal sealed class NameWaiters
{
    private readonly Dictionary<string, List<TaskCompletionSource<BindingMessage>>> _waiting = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>How many requests wait, for every name.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _waiting.Values.Sum(list => list.Count);
            }
        }
    }

    /// <summary>The names waited for now.</summary>
    public List<string> Names
    {
        get
        {
            lock (_gate)
            {
                return [.. _waiting.Keys];
            }
        }
    }

    /// <summary>
    /// Registers a wait for <paramref name="name"/>; register before looking the name up, so that a
    /// binding applied in between is not missed. Dispose the registration when done.
    /// </summary>
    public Registration Register(string name)
    {
        var bound = new TaskCompletionSource<BindingMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (!_waiting.TryGetValue(name, out var list))
            {
                _waiting[name] = list = [];
            }

            list.Add(bound);
        }

        return new Registration(this, name, bound);
    }

    /// <summary>A binding took effect here: wakes every wait for its name, when it binds it (a tombstone wakes nobody).</summary>
    public void Notify(BindingMessage binding)
    {
        if (!binding.IsBound)
        {
            return;
        }

        List<TaskCompletionSource<BindingMessage>>? woken;
        lock (_gate)
        {
            if (!_waiting.Remove(binding.Name, out woken))
            {
                return;
            }
        }

        foreach (var waiter in woken)
        {
            waiter.TrySetResult(binding);
        }
    }

    private void Remove(string name, TaskCompletionSource<BindingMessage> bound)
    {
        lock (_gate)
        {
            if (_waiting.TryGetValue(name, out var list) && list.Remove(bound) && list.Count == 0)
            {
                _waiting.Remove(name);
            }
        }
    }

    /// <summary>One wait: <see cref="Bound"/> completes with the binding that woke it.</summary>
    internal readonly struct Registration(NameWaiters owner, string name, TaskCompletionSource<BindingMessage> bound) : IDisposable
    {
        public Task<BindingMessage> Bound => bound.Task;

        public void Dispose() => owner.Remove(name, bound);
    }
}
