using System.Net;
using System.Runtime.CompilerServices;
using OmniStore.Node.Internal;
using OmniStore.Protocol;

namespace OmniStore.Node;

/// <summary>
/// What each peer may do: which requests come from the parent and which from children, relays
/// that are late with updates, and (a relay) when its remembered bindings cannot be trusted.
/// See docs/architecture.md, "Late relays".
/// </summary>
internal sealed partial class TreeNode
{
    private readonly ConditionalWeakTable<PeerConnection, IPAddress> _childAddresses = new();
    private LateRelays? _lateRelays;
    private string? _bindingsUnsure;

    /// <summary>Whether this relay answers names: false while it may have missed an update (see <see cref="DistrustBindings"/>).</summary>
    internal bool AnswersNames => Volatile.Read(ref _bindingsUnsure) is null;

    /// <summary>Why this relay answers no names now (the first reason since it was last connected); null when it does.</summary>
    internal string? DistrustReason => Volatile.Read(ref _bindingsUnsure);

    private LateRelays Late => LazyInitializer.EnsureInitialized(ref _lateRelays, () => new LateRelays(_options.LateRelayCooldown, _options.MaxLateRelayCooldown));

    /// <summary>
    /// How long this node waits for a relay below to apply an update: the root its whole
    /// <see cref="TreeNodeOptions.UpdateTimeout"/>; a relay, forwarding its parent's update, half,
    /// so that it cuts off a late child before its parent's deadline passes.
    /// </summary>
    private TimeSpan ChildUpdateTimeout => IsRoot ? _options.UpdateTimeout : _options.UpdateTimeout / 2;

    private ConnectionIdentity CreateIdentity(NodeIdentity key) =>
        new(key, _options.IsRoot ? NodeRole.Root : NodeRole.Relay, _options.Site, _options.Secret)
        {
            RelaySecret = _options.RelaySecret,
            AcceptsRelaysWithoutSecret = _options.AcceptRelaysWithoutSecret,
            ExpectedPeer = _options.ParentNodeId, // only the parent link dials
        };

    /// <summary>This node's identity for a child connecting from <paramref name="remote"/>: a relay that was late here is refused for a while.</summary>
    private ConnectionIdentity IdentityForChild(EndPoint? remote)
    {
        if ((remote as IPEndPoint)?.Address is not { } address)
        {
            return _identity;
        }

        return _identity with
        {
            Admission = hello => hello.Role == NodeRole.Relay && Late.RefusedFor(address) is { } left
                ? $"a relay from {address} missed a binding update deadline here; relays from {address} are refused for {Math.Ceiling(left.TotalSeconds)} s more"
                : null,
        };
    }

    private void RememberChildAddress(PeerConnection child, EndPoint? remote)
    {
        if ((remote as IPEndPoint)?.Address is { } address)
        {
            _childAddresses.AddOrUpdate(child, address);
        }
    }

    /// <summary>
    /// Refuses a request that comes from the wrong side: a child may not push (UPDATE, PUSH_CHUNK),
    /// and the parent may only push. This node opened its parent's connection and accepted its
    /// children's, so the side is known without trusting anything the peer said.
    /// </summary>
    private static void EnsureAllowedFrom(PeerConnection connection, FrameType type)
    {
        bool parentRequest = type is FrameType.Update or FrameType.PushChunk;
        bool childRequest = type is FrameType.Resolve or FrameType.GetManifest or FrameType.GetChunk or FrameType.Prefetch
            or FrameType.PutChunk or FrameType.PutManifest or FrameType.Bind or FrameType.Delete;
        if (connection.PeerSide == TreeSide.Parent && childRequest)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{type} is a child's request; a parent may only push UPDATE and PUSH_CHUNK.");
        }

        if (connection.PeerSide == TreeSide.Child && parentRequest)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{type} is a parent's request; a child may not send it.");
        }
    }

    /// <summary>A relay below missed an update deadline: relays from its address are refused for a cooldown, so it holds up no other Put meanwhile.</summary>
    private void NoteLateChild(PeerConnection child)
    {
        // Once per connection: Puts whose deadlines pass together count as one miss.
        if (_childAddresses.TryGetValue(child, out var address) && _childAddresses.Remove(child))
        {
            var cooldown = Late.Strike(address);
            NodeLog.LateRelayRefused(_logger, child.Describe(), address.ToString(), cooldown.TotalSeconds);
        }
    }

    /// <summary>Wires a relay's parent link: its remembered bindings are trusted only while nothing says it missed an update.</summary>
    private void WatchParent(ParentLink parent)
    {
        parent.Connected += connection =>
        {
            _bindingCache.Clear(); // bindings cached before an outage may be stale, and so may misses
            _misses.ForgetAll();
            if (Interlocked.Exchange(ref _bindingsUnsure, null) is not null)
            {
                NodeLog.BindingsTrustedAgain(_logger, parent.Address.ToString());
            }

            // Runs as the connection closes, before any request it leaves behind can be answered
            // from what this relay remembers.
            connection.Closed.Register(() =>
            {
                if (connection.UnansweredAtClose > 0 && !_stopping.IsCancellationRequested)
                {
                    DistrustBindings($"the connection to its parent closed with {connection.UnansweredAtClose} of the parent's requests unanswered, so it may have missed an update");
                }
            });
        };
        // Either end may refuse: the parent (a wrong secret, a cooldown) or this relay (the parent is not the node it expects).
        parent.Refused += refusal => DistrustBindings($"the connection to its parent is refused ({refusal.Message})");
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

    private string RelayPolicy() =>
        _options.AcceptRelaysWithoutSecret ? "any child that says it is a relay (no relay secret: trusted networks only)"
        : _options.RelaySecret is not null ? "relays that prove the relay secret"
        : "no relays (no relay secret configured)";
}
