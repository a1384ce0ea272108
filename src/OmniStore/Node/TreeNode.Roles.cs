using System.Net;
using System.Runtime.CompilerServices;
using OmniStore.Node.Internal;
using OmniStore.Protocol;

namespace OmniStore.Node;

/// <summary>
/// What each child may do: its identity check in the handshake, and relays that are late with
/// updates. See docs/architecture.md, "Late relays".
/// </summary>
internal sealed partial class TreeNode
{
    private readonly ConditionalWeakTable<PeerConnection, IPAddress> _childAddresses = new();
    private LateRelays? _lateRelays;

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
            MaxVersion = _options.MaxProtocolVersion,
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

    private string RelayPolicy() =>
        _options.AcceptRelaysWithoutSecret ? "any child that says it is a relay (no relay secret: trusted networks only)"
        : _options.RelaySecret is not null ? "relays that prove the relay secret"
        : "no relays (no relay secret configured)";
}
