using System.Net;
using System.Net.Sockets;

namespace OmniStore.Transport.Internal;

/// <summary>The addresses a node address's host stands for, as every IP transport reads it (tcp, rudp).</summary>
internal static class HostResolver
{
    /// <summary>
    /// <c>*</c> and <c>0.0.0.0</c> (to listen on: every IPv4 address), a literal address, <c>localhost</c>
    /// (127.0.0.1 and ::1), or a DNS name; distinct, IPv4 first (with port 0 the first bound picks the
    /// port the others share). Throws <see cref="OmniStoreException"/> (<see cref="OmniStoreError.InvalidArgument"/>)
    /// for a name that does not resolve.
    /// </summary>
    public static IPAddress[] Resolve(NodeAddress address, bool forListening = true)
    {
        if (forListening && address.Host is "*" or "0.0.0.0")
        {
            return [IPAddress.Any];
        }

        if (IPAddress.TryParse(address.Host, out var parsed))
        {
            return [parsed];
        }

        IPAddress[] resolved;
        try
        {
            resolved = address.Host is "localhost" ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : Dns.GetHostAddresses(address.Host);
        }
        catch (SocketException ex)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Cannot resolve {address.Host}: {ex.Message}", ex);
        }

        var distinct = resolved.Distinct().OrderBy(ip => ip.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).ToArray();
        return distinct.Length > 0 ? distinct : throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Cannot resolve {address.Host}: it has no addresses.");
    }
}
