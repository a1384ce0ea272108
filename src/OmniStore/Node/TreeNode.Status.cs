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
        _parent is null ? null : new ParentStatus(_parent.Address.ToString(), _parent.Current is not null, _parent.Connections, LinkTraffic.From(_parent.Counters), _parent.Current?.Remote.NodeId.ToString(), _parent.Current is { } up ? Details(up) : null, _options.ParentNodeId?.ToString(), _parent.Current is null ? _parent.LastProblem : null),
        _children.Keys.Select(c => new LinkStatus(c.Remote.Role.ToString().ToLowerInvariant(), c.Remote.NodeId.ToString(), c.Remote.Site, LinkTraffic.From(c.Counters), Details(c))).ToList(),
        ChildrenTotal,
        new StoreStatus(_store.Mode.ToString().ToLowerInvariant(), _store.UsedBytes, _store.Capacity, _store.Hits, _store.Misses, _store.EvictedBytes),
        InFlight,
        ChunkFetches.Executions,
        _chunkFetches.Joined,
        _misses.Remembered,
        _misses.Refused,

        Connections,
        [.. Addresses.Select(a => a.ToString())]);

    /// <summary>What status shows of a link: transport, path type, endpoint and round-trip times.</summary>
    private static LinkDetails Details(PeerConnection connection) =>
        new(connection.Path?.Transport, connection.Path?.TypeName, connection.RemoteEndPoint, Milliseconds(connection.SmoothedRtt), Milliseconds(connection.MinRtt));

    private static double? Milliseconds(TimeSpan? time) => time is { } t ? Math.Round(t.TotalMilliseconds, 3) : null;
}
