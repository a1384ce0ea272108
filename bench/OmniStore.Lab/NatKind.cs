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
}
