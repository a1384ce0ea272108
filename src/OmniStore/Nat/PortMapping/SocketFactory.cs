using System.Net.Sockets;

namespace OmniStore.Nat.PortMapping;

/// <summary>
/// Makes the sockets port mapping speaks from (UDP for NAT-PMP, PCP and SSDP, TCP for UPnP's HTTP).
/// A socket belongs to the network namespace of the thread that made it, so the lab's tests pass a
/// factory that makes them inside a site's namespace. A factory may also bind them (to speak from
/// one of several local addresses); port mapping binds only sockets that are not bound yet.
/// </summary>
internal delegate Socket SocketFactory(AddressFamily family, SocketType type, ProtocolType protocol);

/// <summary>The factories port mapping uses.</summary>
internal static class SocketFactories
{
    /// <summary>Sockets in this process's own namespace: <c>new Socket(...)</c>.</summary>
    public static readonly SocketFactory Default = (family, type, protocol) => new Socket(family, type, protocol);
}
