using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Node;

/// <summary>
/// A point-in-time view of a node for its status page and metrics. <c>ChildrenTotal</c> counts every
/// child since the node started, gone ones too. <c>RememberedMisses</c>: requests a relay answered
/// NotFound from its memory of recent misses; <c>MissLimitedRequests</c>: requests refused because
/// their connection caused too many misses upstream. <c>Listen</c> is the first address the node
/// listens on, <c>ListenAddresses</c> every one. <c>Readiness</c> is what <c>/readyz</c> answers;
/// <c>RequestsServed</c> counts requests answered since the node started.
/// </summary>
internal sealed record NodeStatus(
    string Role,
    string NodeId,
    string Site,
    string Listen,
    ParentStatus? Parent,
    IReadOnlyList<LinkStatus> Children,
    LinkTraffic ChildrenTotal,
    StoreStatus Store,
    long InFlightRequests,
    long UpstreamChunkFetches,
    long CoalescedChunkRequests,
    long RememberedMisses,
    long MissLimitedRequests,

    ConnectionStatus? Connections = null,
    IReadOnlyList<string>? ListenAddresses = null,
    NatStatus? Nat = null,
    RendezvousStatus? Rendezvous = null,
    ReadinessStatus? Readiness = null,
    long RequestsServed = 0);

/// <summary>Whether a node is ready to serve its children, and why (not), in one line.</summary>
internal sealed record ReadinessStatus(bool Ready, string Reason);

/// <summary>
/// The node's NAT traversal (docs/nat.md): the name it registers and where, whether it is
/// registered now, the address its rendezvous sees it at (its NAT's mapping), and the mapping
/// behaviour it learned (<c>none</c>, <c>endpoint-independent</c>, <c>endpoint-dependent</c>; null: unknown).
/// With a port mapping, the protocol that granted it (<c>nat-pmp</c>, <c>pcp</c>, <c>upnp</c>) and the public address it forwards.
/// </summary>
internal sealed record NatStatus(string? Name, string Rendezvous, bool Registered, string? Reflexive, string? Mapping, string? PortMapping = null, string? Mapped = null);

/// <summary>The rendezvous this node serves: names registered, relays open, and bytes relayed since the start.</summary>
internal sealed record RendezvousStatus(int Registrations, int Relays, long RelayedBytes);

/// <summary>
/// The node's connections from children and what became of them. <c>Open</c> counts handshakes in
/// progress too. <c>Refusing</c> is set while a new connection would be refused (the node is at a
/// limit, or accepting fails, for example for want of descriptors): the node is not ready then.
/// </summary>
internal sealed record ConnectionStatus(
    int Open,
    int Handshaking,
    int MaxConnections,
    int MaxConnectionsPerAddress,
    int MaxPendingHandshakes,
    long Accepted,
    long RefusedAtLimit,
    long RefusedPerAddress,
    long RefusedHandshakes,
    long AcceptErrors,
    long TimedOut,
    RefusalStatus? Refusing);

/// <summary>Why the node refuses new connections, and since when.</summary>
internal sealed record RefusalStatus(string Reason, DateTimeOffset Since);

/// <summary>
/// The parent link: where it points, whether it is up, what crossed it, and the id the parent proved
/// (null while it is down); the id it must prove, if one was given; and, while it is down, why the
/// last attempt failed (unreachable, or refused).
/// </summary>
internal sealed record ParentStatus(string Address, bool Connected, int Connections, LinkTraffic Traffic, string? NodeId = null, LinkDetails? Link = null, string? ExpectedNodeId = null, string? Problem = null);

/// <summary>One connected child; its node id as 32 hex digits, proved in the handshake.</summary>
internal sealed record LinkStatus(string Role, string NodeId, string Site, LinkTraffic Traffic, LinkDetails? Link = null);

/// <summary>
/// How a link runs: its transport (<c>tcp</c>, <c>mem</c>), path type (<c>direct</c>; later
/// <c>mapped</c>, <c>punched</c>, <c>relayed</c>), the peer's endpoint, and the round-trip time
/// its keep-alive PINGs measured (smoothed, and the least seen), in milliseconds; null until measured;
/// and, for a transport with congestion control of its own (rudp), its state.
/// </summary>
internal sealed record LinkDetails(string? Transport, string? Path, string? RemoteEndPoint, double? RttMs, double? MinRttMs, TransportStatistics? TransportState = null);

/// <summary>Bytes in both directions: payload (messages) and wire (everything the transport carried).</summary>
internal sealed record LinkTraffic(long PayloadIn, long PayloadOut, long WireIn, long WireOut)
{
    public static LinkTraffic From(LinkCounters counters) => new(counters.PayloadIn, counters.PayloadOut, counters.WireIn, counters.WireOut);

    public static LinkTraffic operator +(LinkTraffic a, LinkTraffic b) =>
        new(a.PayloadIn + b.PayloadIn, a.PayloadOut + b.PayloadOut, a.WireIn + b.WireIn, a.WireOut + b.WireOut);
}

/// <summary>
/// The store: mode, bytes used of capacity, chunk read hits and misses, bytes evicted; and its last
/// commit: when it completed, and the bytes written since it began (what a SIGKILL now would lose
/// at most; a relay fetches them again).
/// </summary>
internal sealed record StoreStatus(string Mode, long UsedBytes, long CapacityBytes, long Hits, long Misses, long EvictedBytes,
    DateTimeOffset? LastCommit = null, long UncommittedBytes = 0);
