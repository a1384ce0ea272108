namespace OmniStore.Nat.PortMapping;

/// <summary>The protocols a gateway can be asked to forward a port with (docs/nat-port-mapping.md).</summary>
[Flags]
internal enum PortMappingMethods
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>NAT-PMP (RFC 6886), named <c>nat-pmp</c>.</summary>
    NatPmp = 1,

    /// <summary>PCP (RFC 6887), named <c>pcp</c>.</summary>
    Pcp = 2,

    /// <summary>UPnP-IGD (SSDP, then SOAP to a WANIPConnection or WANPPPConnection service), named <c>upnp</c>.</summary>
    Upnp = 4,

    /// <summary>All three.</summary>
    All = NatPmp | Pcp | Upnp,
}

/// <summary>The names of <see cref="PortMappingMethods"/> as logs, status pages and options spell them.</summary>
internal static class PortMappingMethodNames
{
    /// <summary>The name of one method: <c>nat-pmp</c>, <c>pcp</c> or <c>upnp</c>.</summary>
    public static string Name(this PortMappingMethods method) => method switch
    {
        PortMappingMethods.NatPmp => "nat-pmp",
        PortMappingMethods.Pcp => "pcp",
        PortMappingMethods.Upnp => "upnp",
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, "Not a single port mapping method."),
    };
}
