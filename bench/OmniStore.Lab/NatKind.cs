namespace OmniStore.Lab;

/// <summary>What stands between a site and the WAN.</summary>
public enum NatKind
{
    /// <summary>No NAT: the site's address is reachable from every other site.</summary>
    None,

    /// <summary>
    /// A NAT on the site's gateway (nftables <c>masquerade</c>) that keeps a socket's source port where it can, so
    /// one local socket maps to one public port whatever it sends to (endpoint-independent mapping).
    /// Inbound packets pass only on a connection the site opened (Linux connection tracking filters
    /// by remote address and port): a port-restricted cone NAT. Hole punching works through it.
    /// </summary>
    Cone,

    /// <summary>
    /// A NAT on the site's gateway (nftables <c>masquerade fully-random</c>) that picks a random public port for
    /// every new remote address and port: a symmetric NAT, where the port a STUN server sees is not
    /// the port another peer will see. Filtering as for <see cref="Cone"/>.
    /// </summary>
    Symmetric,

    /// <summary>
    /// A <see cref="Cone"/> NAT whose gateway also runs miniupnpd, a UPnP-IGD, NAT-PMP and PCP server
    /// someone else wrote (secure mode: a host may forward ports only to itself), listening on the
    /// site's LAN. Ports it forwards pass the gateway's filter; everything else is filtered as for
    /// <see cref="Cone"/>. Needs <c>/usr/sbin/miniupnpd</c> (Debian: miniupnpd with its nftables backend).
    /// </summary>
    Upnp,
}
