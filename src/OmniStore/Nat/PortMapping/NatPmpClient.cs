using System.Net;
using System.Net.Sockets;

namespace OmniStore.Nat.PortMapping;

/// <summary>
/// A NAT-PMP client (RFC 6886): asks the gateway for its external address (opcode 0) and for UDP
/// mappings (opcode 1), renews them by asking again, removes them with lifetime 0. Speaks from a
/// UDP socket of its own (disposed with the client), to the gateway's port 5351.
/// </summary>
internal sealed class NatPmpClient : IPortMappingProtocol
{
    private readonly Socket _socket;
    private readonly IPEndPoint _server;
    private readonly PortMappingSchedule _schedule;
    private readonly ServerEpoch _epoch = new();
    private readonly SemaphoreSlim _exclusive = new(1, 1);
    private readonly bool _leaveSocketOpen;

    /// <summary>A client that speaks from <paramref name="socket"/> (an IPv4 UDP socket it now owns) to <paramref name="gateway"/>.</summary>
    /// <param name="socket">An unbound or bound IPv4 UDP socket; bound to any port here if it is not.</param>
    /// <param name="gateway">The gateway's address (the default route's next hop).</param>
    /// <param name="schedule">When requests are sent again. Defaults to <see cref="PortMappingSchedule.Rfc6886"/>.</param>
    /// <param name="serverPort">The server's port. Defaults to 5351; tests use another.</param>
    /// <param name="leaveSocketOpen">True when the socket belongs to someone else (a PCP client falling back to NAT-PMP), so disposing leaves it open.</param>
    public NatPmpClient(Socket socket, IPAddress gateway, PortMappingSchedule? schedule = null, int serverPort = NatPmpMessage.ServerPort, bool leaveSocketOpen = false)
    {
        _leaveSocketOpen = leaveSocketOpen;
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(gateway);
        _schedule = schedule ?? PortMappingSchedule.Rfc6886;
        _schedule.Validate(nameof(schedule));
        _socket = socket;
        _server = new IPEndPoint(gateway, serverPort);
        if (!socket.IsBound)
        {
            socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        }
    }

    /// <inheritdoc/>
    public PortMappingMethods Method => PortMappingMethods.NatPmp;

    /// <summary>True when the last answer's epoch showed that the gateway lost its mappings since the answer before (section 3.6).</summary>
    public bool GatewayRestarted { get; private set; }

    /// <summary>The gateway's external address (section 3.2).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> when the gateway does not answer or has no external address; <see cref="OmniStoreError.ProtocolError"/> for another refusal or answers that do not read.</exception>
    public async Task<IPAddress> GetExternalAddressAsync(CancellationToken cancellationToken = default)
    {
        var answer = await ExchangeAsync(NatPmpMessage.EncodeExternalAddressRequest(), NatPmpMessage.ExternalAddressOpcode, cancellationToken).ConfigureAwait(false);
        ThrowIfFailed(answer, "its external address");
        var address = answer.ExternalAddress!;
        if (address.Equals(IPAddress.Any))
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The NAT-PMP server {_server} has no external address (it answered 0.0.0.0).");
        }

        return address;
    }

    /// <summary>Maps (or renews) UDP <paramref name="internalPort"/> (section 3.3); the gateway picks another external port when the suggested one is taken.</summary>
    /// <exception cref="OmniStoreException">As for <see cref="GetExternalAddressAsync"/>; also <see cref="OmniStoreError.ProtocolError"/> when the answer is for another port or grants no time.</exception>
    public async Task<PortMappingLease> MapAsync(int internalPort, int suggestedExternalPort, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        uint seconds = (uint)Math.Clamp(Math.Ceiling(lifetime.TotalSeconds), 1, uint.MaxValue);
        var external = await GetExternalAddressAsync(cancellationToken).ConfigureAwait(false);
        var answer = await ExchangeAsync(NatPmpMessage.EncodeMapUdpRequest(internalPort, suggestedExternalPort, seconds), NatPmpMessage.MapUdpOpcode, cancellationToken).ConfigureAwait(false);
        ThrowIfFailed(answer, $"a mapping of UDP port {internalPort}");
        if (answer.InternalPort != internalPort || answer.ExternalPort == 0 || answer.Lifetime == 0)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"The NAT-PMP server {_server} answered a mapping of UDP port {internalPort} with internal port {answer.InternalPort}, external port {answer.ExternalPort}, lifetime {answer.Lifetime} s.");
        }

        return new PortMappingLease(Method, new IPEndPoint(external, answer.ExternalPort), internalPort, TimeSpan.FromSeconds(answer.Lifetime));
    }

    /// <summary>Removes a mapping (section 3.4: lifetime 0, external port 0).</summary>
    /// <exception cref="OmniStoreException">As for <see cref="GetExternalAddressAsync"/>.</exception>
    public async Task UnmapAsync(PortMappingLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var answer = await ExchangeAsync(NatPmpMessage.EncodeMapUdpRequest(lease.InternalPort, 0, 0), NatPmpMessage.MapUdpOpcode, cancellationToken).ConfigureAwait(false);
        ThrowIfFailed(answer, $"the removal of the mapping of UDP port {lease.InternalPort}");
    }

    /// <summary>Closes the client's socket (unless it belongs to someone else).</summary>
    public ValueTask DisposeAsync()
    {
        if (!_leaveSocketOpen)
        {
            _socket.Dispose();
        }

        _exclusive.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<NatPmpResponse> ExchangeAsync(byte[] request, byte opcode, CancellationToken cancellationToken)
    {
        // One exchange at a time: answers carry no transaction id, only the opcode tells them apart.
        await _exclusive.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var answer = await GatewayTransaction.ExchangeAsync(
                _socket,
                _server,
                request,
                _schedule,
                (ReadOnlySpan<byte> datagram, out string? problem) => NatPmpMessage.TryParse(datagram, opcode, out problem),
                "NAT-PMP",
                cancellationToken).ConfigureAwait(false);
            if (answer.Result == NatPmpResult.Success)
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

    private void ThrowIfFailed(NatPmpResponse answer, string what)
    {
        if (answer.Result == NatPmpResult.Success)
        {
            return;
        }

        var error = answer.Result is NatPmpResult.NetworkFailure or NatPmpResult.OutOfResources ? OmniStoreError.Unavailable : OmniStoreError.ProtocolError;
        throw new OmniStoreException(error, $"The NAT-PMP server {_server} refused {what}: result {NatPmpMessage.Describe(answer.Result)}.");
    }
}
