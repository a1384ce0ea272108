using OmniStore.Node;

namespace OmniStore.Cli.Status;

/// <summary>A <see cref="NodeStatus"/> as Prometheus metrics, served at <c>/metrics</c>. Names and labels are documented in docs/operations.md.</summary>
internal static class NodeMetrics
{
    /// <summary>
    /// At most this many children get series of their own: a node may have thousands of clients, and
    /// a scrape must stay small whoever connects. Relays come first, then the clients that moved the
    /// most bytes; every child is in <c>omnistore_children_bytes_total</c> and <c>omnistore_children</c>.
    /// </summary>
    public const int MaxChildSeries = 64;

    private const string LinkBytes = "omnistore_link_bytes_total";

    public static string Format(NodeStatus status)
    {
        var text = new PrometheusText();
        Write(status, text);
        return text.ToString();
    }

    /// <summary>Writes the metrics of <paramref name="status"/> to <paramref name="text"/>: /metrics and the OpenTelemetry meter alike.</summary>
    public static void Write(NodeStatus status, IMetricWriter text)
    {
        text.Family("omnistore_node_info", "gauge", "The node: role (root or relay), site, id and store mode; always 1.")
            .Sample("omnistore_node_info", 1, ("role", status.Role), ("site", status.Site), ("node_id", status.NodeId), ("store_mode", status.Store.Mode), ("listen", status.Listen));

        if (status.Nat is { } nat)
        {
            text.Family("omnistore_nat_registered", "gauge", "1 while the node's name is registered at its rendezvous (docs/nat.md), else 0; with the NAT mapping behaviour it learned.")
                .Sample("omnistore_nat_registered", nat.Registered ? 1 : 0, ("name", nat.Name ?? ""), ("mapping", nat.Mapping ?? "unknown"));
        }

        if (status.Rendezvous is { } served)
        {
            text.Family("omnistore_rendezvous_registrations", "gauge", "Names registered at the rendezvous this node serves.")
                .Sample("omnistore_rendezvous_registrations", served.Registrations);
            text.Family("omnistore_rendezvous_relays", "gauge", "Relayed paths open at the rendezvous this node serves.")
                .Sample("omnistore_rendezvous_relays", served.Relays);
            text.Family("omnistore_rendezvous_relayed_bytes_total", "counter", "Bytes the rendezvous's relays passed on, both ways.")
                .Sample("omnistore_rendezvous_relayed_bytes_total", served.RelayedBytes);
        }

        text.Family(LinkBytes, "counter", $"Bytes that crossed a link of this node: payload (message bytes) or wire (everything the transport carried), in (received) or out (sent). Child links are counted while the child is connected, for at most {MaxChildSeries} children: relays first, then the busiest clients.");
        if (status.Parent is { } parent)
        {
            AddLink(text, parent.Traffic, ("link", "parent"), ("peer", parent.Address));
        }

        var listed = status.Children
            .OrderByDescending(c => c.Role == "relay")
            .ThenByDescending(c => c.Traffic.PayloadIn + c.Traffic.PayloadOut)
            .ThenBy(c => c.NodeId, StringComparer.Ordinal)
            .Take(MaxChildSeries);
        foreach (var child in listed)
        {
            AddLink(text, child.Traffic, ("link", "child"), ("peer_role", child.Role), ("peer_site", child.Site), ("peer_id", child.NodeId));
        }

        text.Family("omnistore_link_rtt_microseconds", "gauge", "Round-trip time of a link as its keep-alive PINGs measured it (smoothed), with its transport and path type; absent until measured.");
        if (status.Parent is { Link: { RttMs: { } parentRtt } parentLink } measured)
        {
            text.Sample("omnistore_link_rtt_microseconds", (long)Math.Round(parentRtt * 1000), ("link", "parent"), ("peer", measured.Address), ("transport", parentLink.Transport ?? ""), ("path", parentLink.Path ?? ""));
        }

        foreach (var child in listed)
        {
            if (child.Link is { RttMs: { } childRtt } childLink)
            {
                text.Sample("omnistore_link_rtt_microseconds", (long)Math.Round(childRtt * 1000), ("link", "child"), ("peer_role", child.Role), ("peer_site", child.Site), ("peer_id", child.NodeId), ("transport", childLink.Transport ?? ""), ("path", childLink.Path ?? ""));
            }
        }

        AddTransportState(text, status, listed);

        text.Family("omnistore_children_bytes_total", "counter", "Bytes that crossed the links to all children since the node started, including children that have left.");
        AddLink(text, status.ChildrenTotal, "omnistore_children_bytes_total");

        if (status.Parent is { } link)
        {
            text.Single("omnistore_parent_connected", "gauge", "1 while the connection to the parent is up, else 0.", link.Connected ? 1 : 0);
            text.Single("omnistore_parent_connections_total", "counter", "How many times the connection to the parent came up.", link.Connections);
        }

        text.Single("omnistore_children", "gauge", "Children (relays and clients) connected now.", status.Children.Count);
        text.Single("omnistore_store_used_bytes", "gauge", "Bytes the store uses.", status.Store.UsedBytes);
        text.Single("omnistore_store_capacity_bytes", "gauge", "Bytes the store may use (0: no limit).", status.Store.CapacityBytes);
        text.Single("omnistore_cache_hits_total", "counter", "Chunk reads the store answered.", status.Store.Hits);
        text.Single("omnistore_cache_misses_total", "counter", "Chunk reads the store could not answer.", status.Store.Misses);
        text.Single("omnistore_evicted_bytes_total", "counter", "Bytes the cache evicted to make room.", status.Store.EvictedBytes);
        text.Single("omnistore_store_uncommitted_bytes", "gauge", "Bytes written to the store since its last commit began: what a SIGKILL now would lose at most.", status.Store.UncommittedBytes);
        text.Single("omnistore_inflight_requests", "gauge", "Requests the node is serving now.", status.InFlightRequests);
        text.Single("omnistore_requests_total", "counter", "Requests the node answered since it started.", status.RequestsServed);
        if (status.Readiness is { } readiness)
        {
            text.Single("omnistore_ready", "gauge", "1 while the node is ready to serve its children (/readyz answers 200), else 0.", readiness.Ready ? 1 : 0);
        }

        text.Single("omnistore_upstream_chunk_fetches_total", "counter", "Chunk fetches sent to the parent.", status.UpstreamChunkFetches);
        text.Single("omnistore_coalesced_chunk_requests_total", "counter", "Chunk requests that joined a fetch already running instead of going to the parent again.", status.CoalescedChunkRequests);
        text.Single("omnistore_remembered_misses_total", "counter", "Requests a relay answered NotFound from its memory of what the parent recently did not have, without asking it again.", status.RememberedMisses);
        text.Single("omnistore_miss_limited_requests_total", "counter", "Requests refused (Unavailable) because their connection caused more misses at the parent than a child may.", status.MissLimitedRequests);
        if (status.Connections is { } connections)
        {
            AddConnections(text, connections);
        }
    }

    private static void AddConnections(IMetricWriter text, ConnectionStatus connections)
    {
        text.Single("omnistore_connections", "gauge", "Connections from children now, handshakes in progress included.", connections.Open);
        text.Single("omnistore_connections_handshaking", "gauge", "Connections from children still in their handshake.", connections.Handshaking);
        text.Family("omnistore_connections_limit", "gauge", "The node's connection limits: in all, per source address, in their handshake.")
            .Sample("omnistore_connections_limit", connections.MaxConnections, ("limit", "total"))
            .Sample("omnistore_connections_limit", connections.MaxConnectionsPerAddress, ("limit", "per_address"))
            .Sample("omnistore_connections_limit", connections.MaxPendingHandshakes, ("limit", "handshakes"));
        text.Single("omnistore_connections_accepted_total", "counter", "Connections admitted since the node started.", connections.Accepted);
        text.Family("omnistore_connections_refused_total", "counter", "Connections refused at once because a limit was reached: total, per_address, or handshakes.")
            .Sample("omnistore_connections_refused_total", connections.RefusedAtLimit, ("reason", "total"))
            .Sample("omnistore_connections_refused_total", connections.RefusedPerAddress, ("reason", "per_address"))
            .Sample("omnistore_connections_refused_total", connections.RefusedHandshakes, ("reason", "handshakes"));
        text.Single("omnistore_accept_errors_total", "counter", "Accepts that failed for want of a resource (EMFILE, ENFILE, ENOBUFS, ...).", connections.AcceptErrors);
        text.Single("omnistore_connections_timed_out_total", "counter", "Connections closed because the child sent no complete frame, or nothing of a message it started, within the idle timeout.", connections.TimedOut);
        text.Single("omnistore_refusing_connections", "gauge", "1 while the node would refuse a new connection (at a limit, or accepting fails), else 0; /readyz answers 503 then.", connections.Refusing is null ? 0 : 1);
        text.Single("omnistore_refusing_connections_since_seconds", "gauge", "When the node began refusing connections, in seconds since 1970; 0 while it accepts them.", connections.Refusing?.Since.ToUnixTimeSeconds() ?? 0);
    }

    private static void AddLink(IMetricWriter text, LinkTraffic traffic, params (string Name, string Value)[] link) =>
        AddLink(text, traffic, LinkBytes, link);

    private static void AddLink(IMetricWriter text, LinkTraffic traffic, string family, params (string Name, string Value)[] link)
    {
        text.Sample(family, traffic.PayloadIn, [.. link, ("direction", "in"), ("kind", "payload")]);
        text.Sample(family, traffic.PayloadOut, [.. link, ("direction", "out"), ("kind", "payload")]);
        text.Sample(family, traffic.WireIn, [.. link, ("direction", "in"), ("kind", "wire")]);
        text.Sample(family, traffic.WireOut, [.. link, ("direction", "out"), ("kind", "wire")]);
    }

    /// <summary>Per rudp link (docs/rudp.md, "Status and metrics"): the transport's RTT, window, pacing rate, bytes in flight, packets sent and lost, retransmitted bytes and path MTU.</summary>
    private static void AddTransportState(IMetricWriter text, NodeStatus status, IEnumerable<LinkStatus> children)
    {
        var links = new List<((string, string)[] Labels, OmniStore.Transport.TransportStatistics State)>();
        if (status.Parent is { Link.TransportState: { } parentState } parent)
        {
            links.Add(([("link", "parent"), ("peer", parent.Address), ("transport", parent.Link.Transport ?? "")], parentState));
        }

        foreach (var child in children)
        {
            if (child.Link?.TransportState is { } childState)
            {
                links.Add(([("link", "child"), ("peer_role", child.Role), ("peer_site", child.Site), ("peer_id", child.NodeId), ("transport", child.Link.Transport ?? "")], childState));
            }
        }

        (string Name, string Type, string Help, Func<OmniStore.Transport.TransportStatistics, long> Value)[] families =
        [
            ("omnistore_transport_rtt_microseconds", "gauge", "Smoothed round-trip time the transport measured from its acks (rudp links).", s => (long)Math.Round(s.RttMs * 1000)),
            ("omnistore_transport_congestion_window_bytes", "gauge", "Bytes the congestion controller lets be in flight (rudp links).", s => s.CongestionWindow),
            ("omnistore_transport_pacing_rate_bytes", "gauge", "Bytes per second the sender paces at (rudp links).", s => s.PacingRate),
            ("omnistore_transport_bytes_in_flight", "gauge", "Bytes sent and not yet acknowledged or declared lost (rudp links).", s => s.BytesInFlight),
            ("omnistore_transport_packets_sent_total", "counter", "Packets sent on the link (rudp links).", s => s.PacketsSent),
            ("omnistore_transport_packets_lost_total", "counter", "Packets declared lost (rudp links); over packets sent, the loss ratio.", s => s.PacketsLost),
            ("omnistore_transport_retransmitted_bytes_total", "counter", "Stream bytes sent again after a loss (rudp links).", s => s.BytesRetransmitted),
            ("omnistore_transport_path_mtu_bytes", "gauge", "The largest datagram the path was confirmed to carry (rudp links).", s => s.PathMtu),
        ];
        foreach (var (name, type, help, value) in families)
        {
            text.Family(name, type, help);
            foreach (var (labels, state) in links)
            {
                text.Sample(name, value(state), labels);
            }
        }
    }
}
