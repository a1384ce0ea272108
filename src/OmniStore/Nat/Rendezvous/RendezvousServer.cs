using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Nat.Rendezvous;

/// <summary>
/// <c>omnistore rendezvous</c>: a small public server for trees whose root is behind NAT
/// (docs/nat.md). It answers STUN on its rudp port, registers names, introduces nodes and relays
/// when no hole opens; it stores no data and serves no other request. Peers prove the tree's
/// shared secret in the handshake, as they do to any node of the tree.
/// </summary>
internal sealed class RendezvousServer : IRequestHandler, IAsyncDisposable
{
    /// <summary>The most connections at once (each a registered node, or a dialer asking for one).</summary>
    public const int MaxConnections = 10_000;

    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly IConnectionListener _listener;
    private readonly ConnectionIdentity _identity;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<PeerConnection, byte> _connections = new();
    private readonly Task _acceptLoop;
    private StunServer? _other;

    private RendezvousServer(IConnectionListener listener, ConnectionIdentity identity, RendezvousService service, ILogger logger)
    {
        _listener = listener;
        _identity = identity;
        Service = service;
        _logger = logger;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>What it listens on, with the actual port.</summary>
    public IReadOnlyList<NodeAddress> Addresses => _listener.Addresses;

    /// <summary>Registrations, introductions and relays.</summary>
    public RendezvousService Service { get; }

    /// <summary>Connections open now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Listens on <paramref name="listen"/> (rudp addresses) and serves until disposed.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> for an address that is not rudp; <see cref="OmniStoreError.Unavailable"/> when it cannot be bound.</exception>
    public static RendezvousServer Start(IReadOnlyList<NodeAddress> listen, byte[]? secret, RendezvousOptions? options, ILoggerFactory loggerFactory, Security.TlsCredentials? tls = null)
    {
        var other = listen.FirstOrDefault(a => a.Scheme is not ("rudp" or "tls+rudp"));
        if (listen.Count == 0 || other is not null)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A rendezvous listens on rudp://HOST:PORT (or tls+rudp://) addresses{(other is null ? "; none was given" : $", not {other}")}.");
        }

        var listener = (tls is null ? TransportRegistry.Default : TransportRegistry.Default.WithTls(tls)).Listen(listen);
        // The role its certificate gives (a relay's or a root's); a relay without TLS: peers dial it as clients dial a relay.
        var role = tls?.Rights.Role switch
        {
            null or Security.CertificateRole.Relay => NodeRole.Relay,
            Security.CertificateRole.Root => NodeRole.Root,
            _ => throw new OmniStoreException(OmniStoreError.InvalidArgument, "A rendezvous needs a relay's or a root's certificate, not a client's."),
        };
        var key = tls is null ? NodeIdentity.Create() : NodeIdentity.FromCertificate(tls.Certificate);
        var identity = new ConnectionIdentity(key, role, "rendezvous", secret);
        var service = new RendezvousService(options, loggerFactory.CreateLogger<RendezvousService>());
        var bound = listener.DatagramSockets[0].LocalEndPoint.Address;
        var otherAddress = StunServer.Start(bound);
        service.OtherAddress = otherAddress.LocalEndPoint;
        return new RendezvousServer(listener, identity, service, loggerFactory.CreateLogger<RendezvousServer>()) { _other = otherAddress };
    }

    public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        using (request)
        {
            await Service.HandleAsync(connection, request, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            AcceptResult result;
            try
            {
                result = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (_stop.IsCancellationRequested || result.Status == AcceptStatus.Stopped)
            {
                result.Connection?.Refuse(default);
                return;
            }

            if (result is not { Status: AcceptStatus.Accepted, Connection: { } incoming })
            {
                if (result.Status == AcceptStatus.ListenerFailed)
                {
                    await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                }

                continue;
            }

            if (_connections.Count >= MaxConnections)
            {
                incoming.Refuse(ConnectionRefusal.Frame(OmniStoreError.Unavailable, $"This rendezvous serves {MaxConnections} connections already."));
                continue;
            }

            if (incoming.Open(new LinkCounters()) is { } transport)
            {
                _ = Task.Run(() => ServeAsync(transport));
            }
        }
    }

    private async Task ServeAsync(TransportConnection transport)
    {
        PeerConnection connection;
        using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
        {
            handshake.CancelAfter(HandshakeTimeout);
            try
            {
                connection = await PeerConnection.StartAsync(transport, isOpener: false, _identity, this, ConnectionLimits.Default, _logger, handshake.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
            {
                return; // a stranger without the secret, or a peer too slow to finish: nothing kept
            }
        }

        _connections[connection] = 0;
        try
        {
            await connection.Completion.WaitAsync(_stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            _connections.TryRemove(connection, out _);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _listener.DisposeAsync().ConfigureAwait(false);
        await _acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var connection in _connections.Keys)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        await Service.DisposeAsync().ConfigureAwait(false);
        if (_other is not null)
        {
            await _other.DisposeAsync().ConfigureAwait(false);
        }

        _identity.Node.Dispose();
    }
}
