using System.Net;
using System.Net.Sockets;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Transport.Rudp;

/// <summary>
/// Listens on one UDP socket per address (docs/rudp.md, "Layers and threads"): every peer of that
/// address shares the socket, told apart by connection id. Accepting never fails for a reason that
/// lasts: a handshake is only handed up once its client proved its address.
/// </summary>
internal sealed class RudpListener : IConnectionListener
{
    private readonly RudpEndpoint[] _endpoints;
    private readonly Task<AcceptResult>?[] _pending;
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;

    private RudpListener(RudpEndpoint[] endpoints)
    {
        _endpoints = endpoints;
        _pending = new Task<AcceptResult>?[endpoints.Length];
        Addresses = [.. endpoints.Select(e => new NodeAddress("rudp", e.LocalEndPoint.Address.ToString(), e.LocalEndPoint.Port))];
    }

    public IReadOnlyList<NodeAddress> Addresses { get; }

    /// <summary>The endpoints, for status and tests.</summary>
    internal IReadOnlyList<RudpEndpoint> Endpoints => _endpoints;

    public IReadOnlyList<RudpEndpoint> DatagramSockets => _endpoints;

    public static RudpListener Bind(NodeAddress address, RudpSettings settings)
    {
        settings.Validate();
        var ips = OmniStore.Transport.Internal.HostResolver.Resolve(address);
        var endpoints = new List<RudpEndpoint>();
        try
        {
            int port = address.Port;
            foreach (var ip in ips)
            {
                try
                {
                    var endpoint = RudpEndpoint.Listen(new IPEndPoint(ip, port), settings);
                    endpoint.Responder = Nat.StunResponder.Respond; // every node answers STUN on its rudp port (docs/nat.md)
                    endpoints.Add(endpoint);
                    port = endpoint.LocalEndPoint.Port;
                }
                catch (OmniStoreException ex) when (endpoints.Count > 0 && ex.InnerException is SocketException { SocketErrorCode: SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported })
                {
                    // A second family the host does not have (::1 without IPv6): the others serve.
                }
            }

            return new RudpListener([.. endpoints]);
        }
        catch
        {
            endpoints.ForEach(e => e.Dispose());
            throw;
        }
    }

    public async Task<AcceptResult> AcceptAsync(CancellationToken cancellationToken)
    {
        for (int i = 0; i < _endpoints.Length; i++)
        {
            _pending[i] ??= AcceptOneAsync(_endpoints[i], _stop.Token);
        }

        var done = await Task.WhenAny(_pending!).WaitAsync(cancellationToken).ConfigureAwait(false);
        _pending[Array.IndexOf(_pending, done)] = null;
        return await done.ConfigureAwait(false);
    }

    private static async Task<AcceptResult> AcceptOneAsync(RudpEndpoint endpoint, CancellationToken cancellationToken)
    {
        try
        {
            var incoming = await endpoint.AcceptAsync(cancellationToken).ConfigureAwait(false);
            return new AcceptResult(AcceptStatus.Accepted, incoming, null);
        }
        catch (Exception ex) when (ex is OperationCanceledException or System.Threading.Channels.ChannelClosedException or ObjectDisposedException)
        {
            return AcceptResult.Stopped;
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stop.Cancel();
            foreach (var endpoint in _endpoints)
            {
                endpoint.Dispose();
            }

            _stop.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
