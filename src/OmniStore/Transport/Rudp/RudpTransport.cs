using System.Net;
using System.Net.Sockets;
using OmniStore.Transport.Internal;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Transport.Rudp;

/// <summary>
/// rudp: <c>rudp://host:port</c>, OmniStore's reliable transport over UDP (docs/rudp.md). A
/// listener serves every peer from one UDP socket; a dial opens a socket of its own.
/// </summary>
internal sealed class RudpTransport(RudpSettings settings) : ITransport
{
    public static RudpTransport Instance { get; } = new(RudpSettings.Default);

    public RudpSettings Settings => settings;

    public string Scheme => "rudp";

    public async Task<TransportConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken)
    {
        settings.Validate();
        if (address.Port == 0)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"{address} names a node behind NAT (a rudp address without a port), which is found through a rendezvous: give --rendezvous rudp://HOST:PORT (rendezvous= in a connection string), or the node's port (docs/nat.md).");
        }

        var ips = HostResolver.Resolve(address, forListening: false);
        OmniStoreException? last = null;
        foreach (var ip in ips)
        {
            try
            {
                return await RudpConnection.ConnectAsync(new IPEndPoint(ip, address.Port), counters, settings, cancellationToken).ConfigureAwait(false);
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Unavailable)
            {
                last = ex;
            }
        }

        throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot connect to {address}: {last?.Message ?? "no address"}", last);
    }

    public IConnectionListener Listen(NodeAddress address) => RudpListener.Bind(address, settings);
}
