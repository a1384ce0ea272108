using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Node;

/// <summary>A point-in-time view of a node for its status page and metrics.</summary>
internal sealed record NodeStatus(
    string Role,
    Guid NodeId,
    string Site,
    string Listen,
    ParentStatus? Parent,
    IReadOnlyList<LinkStatus> Children,
    StoreStatus Store,
    long InFlightRequests,
    long UpstreamChunkFetches,
    long CoalescedChunkRequests);

/// <summary>The parent link: where it points, whether it is up, and what crossed it.</summary>
internal sealed record ParentStatus(string Address, bool Connected, int Connections, LinkTraffic Traffic);

/// <summary>One connected child.</summary>
internal sealed record LinkStatus(string Role, Guid NodeId, string Site, LinkTraffic Traffic);

/// <summary>Bytes in both directions: payload (messages) and wire (everything the transport carried).</summary>
internal sealed record LinkTraffic(long PayloadIn, long PayloadOut, long WireIn, long WireOut)
{
    public static LinkTraffic From(LinkCounters counters) => new(counters.PayloadIn, counters.PayloadOut, counters.WireIn, counters.WireOut);
}

/// <summary>The store: mode, bytes used of capacity, chunk read hits and misses, bytes evicted.</summary>
internal sealed record StoreStatus(string Mode, long UsedBytes, long CapacityBytes, long Hits, long Misses, long EvictedBytes);
