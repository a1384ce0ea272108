using OmniStore.Protocol;

namespace OmniStore.Node.Upstream;

/// <summary>
/// When a relay's remembered bindings cannot be trusted: from the moment it may have missed an
/// update until its parent takes it back (docs/architecture.md, "Late relays").
/// </summary>
internal sealed partial class ParentUpstream
{
    private string? _bindingsUnsure;

    /// <summary>Whether this relay answers names: false while it may have missed an update.</summary>
    public bool AnswersNames => Volatile.Read(ref _bindingsUnsure) is null;

    /// <summary>Why this relay answers no names now (the first reason since it was last connected); null when it does.</summary>
    public string? DistrustReason => Volatile.Read(ref _bindingsUnsure);

    /// <summary>Wires the parent link: remembered bindings are trusted only while nothing says an update was missed.</summary>
    private void WatchParent()
    {
        _parent.Connected += connection =>
        {
            _bindingCache.Clear(); // bindings cached before an outage may be stale, and so may misses
            _misses.ForgetAll();
            if (Interlocked.Exchange(ref _bindingsUnsure, null) is not null)
            {
                NodeLog.BindingsTrustedAgain(_logger, _parent.Address.ToString());
            }

            // Runs as the connection closes, before any request it leaves behind can be answered
            // from what this relay remembers.
            connection.Closed.Register(() =>
            {
                if (connection.UnansweredAtClose > 0 && !_lifetime.IsCancellationRequested)
                {
                    DistrustBindings($"the connection to its parent closed with {connection.UnansweredAtClose} of the parent's requests unanswered, so it may have missed an update");
                }
            });
        };
        // Either end may refuse: the parent (a wrong secret, a cooldown) or this relay (the parent is not the node it expects).
        _parent.Refused += refusal => DistrustBindings($"the connection to its parent is refused ({refusal.Message})");
    }

    private void DistrustBindings(string reason)
    {
        if (Interlocked.CompareExchange(ref _bindingsUnsure, reason, null) is null)
        {
            NodeLog.BindingsDistrusted(_logger, reason);
        }

        _bindingCache.Clear();
    }

    /// <summary>
    /// A relay that may have missed an update answers no name from memory or from its store: its
    /// clients move to their next address, which can ask the root.
    /// </summary>
    private void ThrowIfBindingsUnsure(string name)
    {
        if (Volatile.Read(ref _bindingsUnsure) is { } reason)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"This relay cannot tell the current binding of '{name}': {reason}. It serves names again once its parent takes it back.");
        }
    }
}
