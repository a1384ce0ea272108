using System.Net;
using System.Net.Sockets;

namespace OmniStore.Nat.PortMapping;

/// <summary>
/// A PCP client (RFC 6887) for UDP mappings: MAP requests with a nonce per internal port (kept, so
/// a renewal or removal names the same mapping, section 11.2), the requested lifetime, a suggested
/// external port. A server that answers UNSUPP_VERSION (or a NAT-PMP server's "unsupported version",
/// section 9) is spoken to in NAT-PMP from then on, over the same socket.
/// </summary>
internal sealed class PcpClient : IPortMappingProtocol
{
    private readonly Socket _socket;
    private readonly IPEndPoint _server;
    private readonly PortMappingSchedule _schedule;
    private readonly ServerEpoch _epoch = new();
    private readonly Dictionary<int, byte[]> _nonces = [];
    private readonly SemaphoreSlim _exclusive = new(1, 1);
    private NatPmpClient? _fallback;

    /// <summary>
    /// A client that speaks from <paramref name="socket"/> (an IPv4 UDP socket it now owns, connected
    /// here to the server so that its local address is the one the gateway sees) to <paramref name="gateway"/>.
    /// </summary>
    /// <param name="socket">An IPv4 UDP socket.</param>
    /// <param name="gateway">The gateway's address (the default route's next hop).</param>
    /// <param name="schedule">When requests are sent again (section 8.1.1). Defaults to <see cref="PortMappingSchedule.Rfc6886"/>.</param>
    /// <param name="serverPort">The server's port. Defaults to 5351; tests use another.</param>
    public PcpClient(Socket socket, IPAddress gateway, PortMappingSchedule? schedule = null, int serverPort = NatPmpMessage.ServerPort)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(gateway);
        _schedule = schedule ?? PortMappingSchedule.Rfc6886;
        _schedule.Validate(nameof(schedule));
        _socket = socket;
        _server = new IPEndPoint(gateway, serverPort);
        try
        {
            _socket.Connect(_server); // no datagram: it picks the route, so the local address is the one the gateway sees
        }
        catch
        {
            _socket.Dispose(); // the client owns it, and there will be no client
            throw;
        }

        ClientAddress = ((IPEndPoint)_socket.LocalEndPoint!).Address;
    }

    /// <inheritdoc/>
    public PortMappingMethods Method => PortMappingMethods.Pcp;

    /// <summary>The address this host has toward the gateway: the PCP client address of every request.</summary>
    public IPAddress ClientAddress { get; }

    /// <summary>True once the server answered UNSUPP_VERSION and the client speaks NAT-PMP instead.</summary>
    public bool FellBackToNatPmp => _fallback is not null;

    /// <summary>True when the last answer's epoch showed that the gateway lost its mappings since the answer before (section 8.5).</summary>
    public bool GatewayRestarted { get; private set; }

    /// <summary>
    /// Maps (or renews) UDP <paramref name="internalPort"/>; the lease's method is
    /// <see cref="PortMappingMethods.NatPmp"/> when the server speaks only NAT-PMP.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> when the server does not answer or cannot map now; <see cref="OmniStoreError.ProtocolError"/> for another refusal or answers that do not read.</exception>
    public async Task<PortMappingLease> MapAsync(int internalPort, int suggestedExternalPort, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        if (_fallback is { } natPmp)
        {
            return await natPmp.MapAsync(internalPort, suggestedExternalPort, lifetime, cancellationToken).ConfigureAwait(false);
        }

        uint seconds = (uint)Math.Clamp(Math.Ceiling(lifetime.TotalSeconds), 1, uint.MaxValue);
        byte[] nonce;
        lock (_nonces)
        {
            if (!_nonces.TryGetValue(internalPort, out nonce!))
            {
                nonce = PcpMessage.NewNonce();
                _nonces[internalPort] = nonce;
            }
        }

        var answer = await ExchangeAsync(nonce, internalPort, suggestedExternalPort, seconds, cancellationToken).ConfigureAwait(false);
        if (answer.Result == PcpResult.UnsupportedVersion)
        {
            _fallback ??= new NatPmpClient(_socket, _server.Address, _schedule, _server.Port, leaveSocketOpen: true);
            return await _fallback.MapAsync(internalPort, suggestedExternalPort, lifetime, cancellationToken).ConfigureAwait(false);
        }

        ThrowIfFailed(answer, $"a mapping of UDP port {internalPort}");
        if (answer.ExternalPort == 0 || answer.Lifetime == 0 || answer.ExternalAddress is not { } external || external.Equals(IPAddress.Any) || external.Equals(IPAddress.IPv6Any))
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"The PCP server {_server} answered a mapping of UDP port {internalPort} with {answer.ExternalAddress}:{answer.ExternalPort} for {answer.Lifetime} s.");
        }

        return new PortMappingLease(Method, new IPEndPoint(external, answer.ExternalPort), internalPort, TimeSpan.FromSeconds(answer.Lifetime));
    }

    /// <summary>Removes a mapping: a MAP request with the mapping's nonce and lifetime 0 (section 15).</summary>
    /// <exception cref="OmniStoreException">As for <see cref="MapAsync"/>.</exception>
    public async Task UnmapAsync(PortMappingLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        if (lease.Method == PortMappingMethods.NatPmp && _fallback is { } natPmp)
        {
            await natPmp.UnmapAsync(lease, cancellationToken).ConfigureAwait(false);
            return;
        }

        byte[]? nonce;
        lock (_nonces)
        {
            _nonces.TryGetValue(lease.InternalPort, out nonce);
        }

        if (nonce is null)
        {
            throw new InvalidOperationException($"This client holds no PCP mapping of UDP port {lease.InternalPort}.");
        }

        var answer = await ExchangeAsync(nonce, lease.InternalPort, 0, 0, cancellationToken).ConfigureAwait(false);
        ThrowIfFailed(answer, $"the removal of the mapping of UDP port {lease.InternalPort}");
        lock (_nonces)
        {
            _nonces.Remove(lease.InternalPort);
        }
    }

    /// <summary>Closes the client's socket.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_fallback is { } natPmp)
        {
            await natPmp.DisposeAsync().ConfigureAwait(false);
        }

        _socket.Dispose();
        _exclusive.Dispose();
    }

    private async Task<PcpMapResponse> ExchangeAsync(byte[] nonce, int internalPort, int suggestedExternalPort, uint seconds, CancellationToken cancellationToken)
    {
        var request = PcpMessage.EncodeMapRequest(ClientAddress, nonce, internalPort, suggestedExternalPort, null, seconds);
        await _exclusive.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var answer = await GatewayTransaction.ExchangeAsync(
                _socket,
                _server,
                request,
                _schedule,
                (ReadOnlySpan<byte> datagram, out string? problem) => PcpMessage.TryParseMapResponse(datagram, nonce, internalPort, out problem),
                "PCP",
                cancellationToken).ConfigureAwait(false);
            if (answer.Result == PcpResult.Success)
            {
                GatewayRestarted = _epoch.Observe(answer.Epoch);
            }

            return answer;
        }
        finally
        {
            _exclusive.Release();
        }
    }

    private void ThrowIfFailed(PcpMapResponse answer, string what)
    {
        if (answer.Result == PcpResult.Success)
        {
            return;
        }

        var error = answer.Result is PcpResult.NetworkFailure or PcpResult.NoResources or PcpResult.CannotProvideExternal or PcpResult.UserExceededQuota
            ? OmniStoreError.Unavailable
            : OmniStoreError.ProtocolError;
        throw new OmniStoreException(error, $"The PCP server {_server} refused {what}: result {PcpMessage.Describe(answer.Result)}.");
    }
}
