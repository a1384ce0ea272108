using OmniStore.Protocol;

namespace OmniStore.Node;

internal sealed partial class TreeNode
{
    /// <summary>A snapshot of the node's state and counters.</summary>
    public NodeStatus GetStatus() => new(
        IsRoot ? "root" : "relay",
        NodeId.ToString(),
        Site,
        Address.ToString(),
        Parent is not { } parent ? null : new ParentStatus(parent.Address.ToString(), parent.Current is not null, parent.Connections, LinkTraffic.From(parent.Counters), parent.Current?.Remote.NodeId.ToString(), parent.Current is { } up ? Details(up) : null, _options.ParentNodeId?.ToString(), parent.Current is null ? parent.LastProblem : null),
        _children.Keys.Select(c => new LinkStatus(c.Remote.Role.ToString().ToLowerInvariant(), c.Remote.NodeId.ToString(), c.Remote.Site, LinkTraffic.From(c.Counters), Details(c))).ToList(),
        ChildrenTotal,
        new StoreStatus(_store.Mode.ToString().ToLowerInvariant(), _store.UsedBytes, _store.Capacity, _store.Hits, _store.Misses, _store.EvictedBytes, _store.LastCommit, _store.UncommittedBytes),
        InFlight,
        ChunkFetches.Executions,
        ChunkFetches.Joined,
        Misses.Remembered,
        Misses.Refused,

        Connections,
        [.. Addresses.Select(a => a.ToString())],
        _nat is { } nat ? new NatStatus(_options.NodeName, _options.EffectiveRendezvous!.ToString(), nat.IsRegistered, nat.Reflexive?.ToString(), nat.Mapping, nat.PortMapper?.MethodName, nat.PortMapper?.PublicEndPoint?.ToString()) : null,
        _rendezvous is { } rendezvous ? new RendezvousStatus(rendezvous.RegistrationCount, rendezvous.RelayCount, rendezvous.RelayedBytes) : null,
        GetReadiness(),
        RequestsServed);

    /// <summary>What status shows of a link: transport, path type, endpoint and round-trip times.</summary>
    private static LinkDetails Details(PeerConnection connection) =>
        new(connection.Path?.Transport, connection.Path?.TypeName, connection.RemoteEndPoint, Milliseconds(connection.SmoothedRtt), Milliseconds(connection.MinRtt), connection.TransportStatistics);

    private static double? Milliseconds(TimeSpan? time) => time is { } t ? Math.Round(t.TotalMilliseconds, 3) : null;
}
