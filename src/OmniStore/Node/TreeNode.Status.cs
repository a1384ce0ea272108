namespace OmniStore.Node;

internal sealed partial class TreeNode
{
    /// <summary>A snapshot of the node's state and counters.</summary>
    public NodeStatus GetStatus() => new(
        IsRoot ? "root" : "relay",
        NodeId.ToString(),
        Site,
        Address.ToString(),
        _parent is null ? null : new ParentStatus(_parent.Address.ToString(), _parent.Current is not null, _parent.Connections, LinkTraffic.From(_parent.Counters), _parent.Current?.Remote.NodeId.ToString()),
        _children.Keys.Select(c => new LinkStatus(c.Remote.Role.ToString().ToLowerInvariant(), c.Remote.NodeId.ToString(), c.Remote.Site, LinkTraffic.From(c.Counters))).ToList(),
        ChildrenTotal,
        new StoreStatus(_store.Mode.ToString().ToLowerInvariant(), _store.UsedBytes, _store.Capacity, _store.Hits, _store.Misses, _store.EvictedBytes),
        InFlight,
        ChunkFetches.Executions,
        _chunkFetches.Joined,
        _misses.Remembered,
        _misses.Refused,

        Connections);
}
