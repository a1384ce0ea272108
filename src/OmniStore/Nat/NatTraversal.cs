using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OmniStore.Nat.Rendezvous;
using OmniStore.Protocol;
using OmniStore.Transport;
using OmniStore.Transport.Internal;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Nat;

/// <summary>
/// A node's or client's side of NAT traversal (docs/nat.md): one connection to its rendezvous from
/// one rudp socket, over which it registers its name (when it has one) and answers introductions
/// by opening its NAT toward the dialer; and dialing a name: an introduction, connectivity checks
/// to the named node's candidates, the rudp connection on the first pair that answers, or a relay
/// when none does. Every datagram of all this leaves the same socket, so every peer sees the one
/// mapping its NAT made for it.
/// </summary>
internal sealed class NatTraversal : IRequestHandler, IAsyncDisposable
{
    private readonly NatOptions _options;
    private readonly ConnectionIdentity _identity;
    private readonly ILogger _logger;
    private readonly NatSocket _socket;
    private readonly bool _ownsEndpoint;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<long, DialAttempt> _dialing = new();
    private readonly ConcurrentDictionary<IPEndPoint, (PathType Type, long At)> _checkedPaths = new();
    private PeerConnection? _rendezvous;
    private IPEndPoint? _rendezvousEndPoint;
    private Task? _registration;
    private Task? _portMapping;
    private PortMapping.PortMapper? _portMapper;
    private int _disposed;

    /// <summary>
    /// NAT traversal on <paramref name="endpoint"/> (a node's rudp listener socket), or on a socket of
    /// its own when null (a client, or a node that listens on no rudp address).
    /// </summary>
    public NatTraversal(NatOptions options, RudpEndpoint? endpoint, ConnectionIdentity identity, ILogger logger)
    {
        options.Validate();
        _options = options;
        _identity = identity;
        _logger = logger;
        _ownsEndpoint = endpoint is null;
        _socket = new NatSocket(endpoint ?? RudpEndpoint.ForClient(AddressFamily.InterNetwork, RudpSettings.Default));
        _socket.RequestArrived += OnCheck;
    }

    /// <summary>
    /// A connectivity check arrived: it names which of this node's candidates the dialer sent it to,
    /// so this end knows the path the dialer's connection will take (the dialer opens it on the first
    /// check answered). A public node's host and reflexive addresses are one address: the most direct kind wins.
    /// </summary>
    private void OnCheck(IPEndPoint from, StunMessage request)
    {
        if (CheckTag.Read(request.Username) is not { } kind)
        {
            return;
        }

        var type = new Candidate(kind, from).PathType;
        long now = Environment.TickCount64;
        var seen = _checkedPaths.AddOrUpdate(from, (type, now), (_, old) => type < old.Type || now - old.At > 30_000 ? (type, now) : old);
        if (_checkedPaths.Count > 4096)
        {
            _checkedPaths.Clear(); // bounded: a flood of checks from many addresses forgets, it does not grow
        }

        _socket.Endpoint.ExpectPath(from, seen.Type);
    }

    /// <summary>The address the rendezvous last saw this node's socket at (its NAT's mapping); null before it answered.</summary>
    public IPEndPoint? Reflexive { get; private set; }

    /// <summary>
    /// The NAT's mapping behaviour (RFC 4787) as last learned: <c>none</c> (the rendezvous sees this
    /// socket's own address), <c>endpoint-independent</c> (one public address whoever we talk to:
    /// holes can be punched), <c>endpoint-dependent</c> (another for each peer: a symmetric NAT;
    /// peers behind other NATs are relayed), or null when unknown (no second address to ask).
    /// </summary>
    public string? Mapping { get; private set; }

    /// <summary>Whether this node's name is registered now.</summary>
    public bool IsRegistered => _options.Name is not null && Reflexive is not null && _rendezvous is { IsOpen: true };

    /// <summary>The socket all of this runs on.</summary>
    internal RudpEndpoint Endpoint => _socket.Endpoint;

    /// <summary>Starts registering this node's name (when it has one), and keeps it registered across rendezvous outages.</summary>
    public void Start()
    {
        if (_options.Name is not null)
        {
            _registration = Task.Run(RegisterLoopAsync);
            if (_options.PortMapping is { } mapping)
            {
                _portMapping = Task.Run(() => MapPortAsync(mapping));
            }
        }
    }

    /// <summary>The port mapping the gateway granted, or null (none asked for, none granted yet, or none possible).</summary>
    public PortMapping.PortMapper? PortMapper => Volatile.Read(ref _portMapper);

    /// <summary>
    /// Asks the gateway to forward the socket's port; once granted, registers again so that the
    /// rendezvous hands dialers the mapping too. A gateway that speaks none of the protocols is
    /// logged once and left alone: holes are punched as without it.
    /// </summary>
    private async Task MapPortAsync(PortMapping.PortMapperOptions mapping)
    {
        try
        {
            var mapper = await PortMapping.PortMapper.StartAsync(_socket.Endpoint.LocalEndPoint.Port, _options.PortMappingLifetime, mapping, _logger, _stop.Token).ConfigureAwait(false);
            Volatile.Write(ref _portMapper, mapper);
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            NatLog.Mapped(_logger, mapper.MethodName, mapper.PublicEndPoint?.ToString());
            if (_rendezvous is { IsOpen: true } connection && _options.Name is { } name)
            {
                using var answer = await connection.RequestAsync(FrameType.Register, RendezvousMessages.EncodeRegister(name, HostCandidates()), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (OmniStoreException ex)
        {
            NatLog.NotMapped(_logger, ex.Message);
        }
    }

    /// <summary>Waits until the name is registered (tests, and a node's start when asked to).</summary>
    public async Task WaitRegisteredAsync(CancellationToken cancellationToken)
    {
        while (!IsRegistered)
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Opens a rudp connection to the node registered as <paramref name="name"/>: directly, punched
    /// or relayed (the connection's <see cref="TransportConnection.Path"/> says which).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> for a bad name; <see cref="OmniStoreError.NotFound"/> when no such node is registered; <see cref="OmniStoreError.Unavailable"/> when no path opened.</exception>
    public async Task<TransportConnection> ConnectAsync(string name, LinkCounters counters, CancellationToken cancellationToken)
    {
        if (RendezvousMessages.CheckName(name) is { } problem)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"rudp://{UntrustedText(name)} (no port) names a node behind NAT, but {problem}.");
        }

        var clock = Stopwatch.StartNew();
        var (rendezvous, session, candidates) = await IntroduceAsync(name, cancellationToken).ConfigureAwait(false);

        var found = _options.TryDirect ? await PunchAsync(session, candidates, cancellationToken).ConfigureAwait(false) : null;
        if (found is null)
        {
            if (!_options.RelayFallback)
            {
                throw new OmniStoreException(OmniStoreError.Unavailable, $"No path to node '{name}' opened within {_options.PunchTimeout.TotalSeconds:0.#} s (candidates {string.Join(", ", candidates)}).");
            }

            if (_options.TryDirect)
            {
                NatLog.PunchFailed(_logger, name, _options.PunchTimeout.TotalSeconds);
            }
            using var answer = await rendezvous.RequestAsync(FrameType.Relay, RendezvousMessages.EncodeRelay(session), cancellationToken).ConfigureAwait(false);
            var (_, _, token, relays) = ReadCandidates(answer);
            if (relays is not [{ Kind: CandidateKind.Relayed } relay])
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, "The rendezvous answered RELAY without one relay address.");
            }

            await BindRelayAsync(relay.Address, token, cancellationToken).ConfigureAwait(false);
            found = relay;
        }

        var (kind, address) = found.Value;
        _socket.Endpoint.ExpectPath(address, found.Value.PathType);
        var connection = await RudpConnection.ConnectAsync(_socket.Endpoint, ownsEndpoint: false, address, counters, cancellationToken).ConfigureAwait(false);
        NatLog.Reached(_logger, name, address.ToString(), connection.Path.TypeName, clock.ElapsedMilliseconds);
        if (kind == CandidateKind.Relayed && _options.UpgradeAttempts > 0)
        {
            _ = Task.Run(() => UpgradeAsync(name, connection), CancellationToken.None);
        }

        return connection;
    }

    /// <summary>Asks the rendezvous to introduce this node to <paramref name="name"/>: the session and the named node's candidates, once it has opened its side.</summary>
    private async Task<(PeerConnection Rendezvous, long Session, List<Candidate> Candidates)> IntroduceAsync(string name, CancellationToken cancellationToken)
    {
        var rendezvous = await RendezvousAsync(cancellationToken).ConfigureAwait(false);
        using var answer = await rendezvous.RequestAsync(FrameType.Introduce, RendezvousMessages.EncodeIntroduce(name, HostCandidates()), cancellationToken).ConfigureAwait(false);
        var (session, _, _, candidates) = ReadCandidates(answer);
        return (rendezvous, session, candidates);
    }

    /// <summary>
    /// A relayed connection tries now and then for a direct path (the NATs may have changed, a
    /// gateway granted a mapping since): a new introduction and new checks; when one answers, the
    /// connection moves there and the relay, no longer used, ends when idle.
    /// </summary>
    private async Task UpgradeAsync(string name, RudpConnection connection)
    {
        for (int attempt = 0; attempt < _options.UpgradeAttempts; attempt++)
        {
            try
            {
                await Task.Delay(_options.UpgradeInterval, connection.Closed).ConfigureAwait(false);
                using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(connection.Closed, _stop.Token);
                var (_, session, candidates) = await IntroduceAsync(name, lifetime.Token).ConfigureAwait(false);

                if (await PunchAsync(session, candidates, lifetime.Token).ConfigureAwait(false) is { } better)
                {
                    _socket.Endpoint.ExpectPath(better.Address, better.PathType);
                    connection.MoveTo(better.Address);
                    NatLog.Upgraded(_logger, name, better.Address.ToString(), new LinkPath("rudp", better.PathType).TypeName);
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return; // the connection or the node closed
            }
            catch (OmniStoreException)
            {
                // The rendezvous is away, or the node is not registered now: the next attempt may do better.
            }
        }
    }

    /// <summary>The rendezvous's requests on this node's connection to it: PUNCH (open a path toward a dialer, or bind to a relay).</summary>
    public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        using (request)
        {
            if (request.Type != FrameType.Punch)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"A rendezvous sends PUNCH, not {request.Type}.");
            }

            var (session, relay, token, candidates) = RendezvousMessages.ReadSession(request.Payload);
            candidates = [.. candidates.Select(WithRendezvousAddress)];
            if (relay)
            {
                if (candidates is not [{ Kind: CandidateKind.Relayed } relayed])
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, "PUNCH in relay mode names one relay address.");
                }

                _socket.Endpoint.ExpectPath(relayed.Address, PathType.Relayed);
                await BindRelayAsync(relayed.Address, token, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                NatLog.Opening(_logger, string.Join(", ", candidates), session);
                Open(candidates, fullTtl: false);
                _ = Task.Run(() => KeepOpeningAsync(candidates), CancellationToken.None);
            }

            await connection.RespondAsync(request.Stream, FrameType.Ok, ReadOnlyMemory<byte>.Empty).ConfigureAwait(false);
        }
    }

    /// <summary>Opening datagrams: STUN Binding requests that leave this node's NAT (creating its mapping toward the dialer) and, with a low TTL, die before the dialer's.</summary>
    private void Open(List<Candidate> candidates, bool fullTtl)
    {
        foreach (var candidate in candidates)
        {
            var opening = new StunMessage(StunType.BindingRequest, StunMessage.NewTransactionId()) { Software = "OmniStore" };
            _socket.Send(opening, candidate.Address, fullTtl ? null : _options.OpeningTtl);
        }
    }

    private async Task KeepOpeningAsync(List<Candidate> candidates)
    {
        var clock = Stopwatch.StartNew();
        var until = _options.PunchTimeout + TimeSpan.FromSeconds(1);
        var period = _options.CheckInterval * 2;
        while (clock.Elapsed < until && !_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Open(candidates, fullTtl: false);
            if (clock.Elapsed >= _options.FullTtlAfter)
            {
                Open(candidates, fullTtl: true); // by now the dialer has sent its checks: this cannot be the first packet at its NAT
            }
        }
    }

    /// <summary>
    /// Sends connectivity checks to every candidate at once, and to any address the peer's own
    /// openings arrive from (a peer-reflexive candidate: its NAT gave it another port for us);
    /// returns the first candidate that answered, or null when none did in time.
    /// </summary>
    private async Task<Candidate?> PunchAsync(long session, List<Candidate> candidates, CancellationToken cancellationToken)
    {
        using var punching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        punching.CancelAfter(_options.PunchTimeout);
        var attempt = new DialAttempt(this, candidates, punching.Token);
        _dialing[session] = attempt;
        _socket.RequestArrived += attempt.OnRequest;
        try
        {
            foreach (var candidate in candidates)
            {
                attempt.Check(candidate);
            }

            var clock = Stopwatch.StartNew();
            var first = await attempt.Winner.Task.WaitAsync(punching.Token).ConfigureAwait(false);
            if (first is { Kind: not CandidateKind.Host } && candidates.Any(c => c.Kind < first.Value.Kind))
            {
                // A more direct candidate may answer a moment later (a port mapping and a punched hole
                // both work behind a UPnP gateway): the most direct that answers in a short grace wins.
                var grace = TimeSpan.FromMilliseconds(Math.Clamp(clock.Elapsed.TotalMilliseconds, 20, 200));
                await Task.Delay(grace, punching.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            return attempt.Best ?? first;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        finally
        {
            _socket.RequestArrived -= attempt.OnRequest;
            _dialing.TryRemove(session, out _);
            await punching.CancelAsync().ConfigureAwait(false);
        }
    }

    private StunSchedule CheckSchedule => new(_options.CheckInterval, Math.Max(1, (int)(_options.PunchTimeout / _options.CheckInterval)), 1, Backoff: 1);

    private async Task BindRelayAsync(IPEndPoint relay, byte[] token, CancellationToken cancellationToken)
    {
        var request = new StunMessage(StunType.BindingRequest, StunMessage.NewTransactionId()) { Username = token, Software = "OmniStore" };
        var (answer, _) = await _socket.TransactAsync(relay, request, new StunSchedule(TimeSpan.FromMilliseconds(200), 10, 2, Backoff: 1.5), cancellationToken).ConfigureAwait(false);
        if (answer.Type != StunType.BindingSuccess)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The relay at {relay} refused this node ({answer.Error?.Code}).");
        }
    }

    private (long Session, bool Relay, byte[] Token, List<Candidate> Candidates) ReadCandidates(Message answer)
    {
        if (answer.Type != FrameType.Candidates)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"The rendezvous answered with {answer.Type}, not CANDIDATES.");
        }

        var read = RendezvousMessages.ReadSession(answer.Payload);
        return read with { Candidates = [.. read.Candidates.Select(WithRendezvousAddress)] };
    }

    /// <summary>A relay or other address of a rendezvous that listens on every address names none: it is at the rendezvous's address.</summary>
    private Candidate WithRendezvousAddress(Candidate candidate) =>
        candidate.Kind is CandidateKind.Relayed or CandidateKind.OtherAddress && (candidate.Address.Address.Equals(IPAddress.Any) || candidate.Address.Address.Equals(IPAddress.IPv6Any)) && _rendezvousEndPoint is { } rendezvous
            ? candidate with { Address = new IPEndPoint(rendezvous.Address, candidate.Address.Port) }
            : candidate;

    /// <summary>The connection to the rendezvous, opened when there is none (from the one socket).</summary>
    private async Task<PeerConnection> RendezvousAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _rendezvous) is { IsOpen: true } open)
        {
            return open;
        }

        await _connectGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_rendezvous is { IsOpen: true } again)
            {
                return again;
            }

            if (_rendezvous is { } closed)
            {
                await closed.DisposeAsync().ConfigureAwait(false);
            }

            // From the one socket; under TLS when the tree's links are (a certificate of the tree proves who registers).
            ITransport rudp = new SharedSocketRudp(this);
            var transportToRendezvous = _options.Rendezvous.Scheme == "tls+rudp" ? new Transport.Tls.TlsTransport(rudp, _options.Tls) : rudp;
            var transport = await transportToRendezvous.ConnectAsync(_options.Rendezvous, new LinkCounters(), cancellationToken).ConfigureAwait(false);
            var connection = await PeerConnection.StartAsync(transport, isOpener: true, _identity, this, ConnectionLimits.Default, _logger, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _rendezvous, connection);
            return connection;
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private async Task RegisterLoopAsync()
    {
        var delay = _options.RetryDelay;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var connection = await RendezvousAsync(_stop.Token).ConfigureAwait(false);
                var hosts = HostCandidates();
                IPEndPoint? other;
                using (var answer = await connection.RequestAsync(FrameType.Register, RendezvousMessages.EncodeRegister(_options.Name!, hosts), _stop.Token).ConfigureAwait(false))
                {
                    var (_, _, _, seen) = ReadCandidates(answer);
                    Reflexive = seen.FirstOrDefault(c => c.Kind == CandidateKind.Reflexive).Address;
                    other = seen.FirstOrDefault(c => c.Kind == CandidateKind.OtherAddress).Address;
                }

                NatLog.RegisteredHere(_logger, _options.Name!, _options.Rendezvous.ToString(), Reflexive?.ToString());
                Mapping = await MappingBehaviourAsync(hosts, other, _stop.Token).ConfigureAwait(false);
                delay = _options.RetryDelay;
                await connection.Completion.WaitAsync(_stop.Token).ConfigureAwait(false);
                Reflexive = null;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (OmniStoreException ex)
            {
                NatLog.RendezvousUnreachable(_logger, _options.Rendezvous.ToString(), ex.Message, delay.TotalMilliseconds);
                try
                {
                    await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.RetryDelay.Ticks * 16));
            }
        }
    }

    /// <summary>
    /// Asks the rendezvous's other address (RFC 5780's test I and II in one: another address and
    /// port) what it sees this socket as, and compares with what the rendezvous saw.
    /// </summary>
    private async Task<string?> MappingBehaviourAsync(List<Candidate> hosts, IPEndPoint? other, CancellationToken cancellationToken)
    {
        if (Reflexive is not { } seen)
        {
            return null;
        }

        if (hosts.Any(h => h.Kind == CandidateKind.Host && h.Address.Equals(seen)))
        {
            return "none";
        }

        if (other is null)
        {
            return null;
        }

        try
        {
            var request = new StunMessage(StunType.BindingRequest, StunMessage.NewTransactionId()) { Software = "OmniStore" };
            var (answer, _) = await _socket.TransactAsync(other, request, new StunSchedule(TimeSpan.FromMilliseconds(250), 5, 4), cancellationToken).ConfigureAwait(false);
            return answer.Mapped is { } mapped ? (mapped.Equals(seen) ? "endpoint-independent" : "endpoint-dependent") : null;
        }
        catch (OmniStoreException)
        {
            return null;
        }
    }

    /// <summary>
    /// This socket's own addresses: its bound address, or, bound to every address, those of the
    /// interfaces that are up (loopback only when the rendezvous is on loopback too).
    /// </summary>
    private List<Candidate> HostCandidates()
    {
        var candidates = OwnAddresses();
        if (PortMapper?.PublicEndPoint is { } mapped)
        {
            candidates.Add(new Candidate(CandidateKind.Mapped, mapped));
        }

        return candidates;
    }

    private List<Candidate> OwnAddresses()
    {
        var local = _socket.Endpoint.LocalEndPoint;
        if (!local.Address.Equals(IPAddress.Any) && !local.Address.Equals(IPAddress.IPv6Any))
        {
            return [new Candidate(CandidateKind.Host, local)];
        }

        bool loopback = _rendezvousEndPoint is { } rendezvous && IPAddress.IsLoopback(rendezvous.Address);
        var candidates = new List<Candidate>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus != OperationalStatus.Up && nic.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            {
                continue;
            }

            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                var ip = unicast.Address;
                if (ip.AddressFamily != AddressFamily.InterNetwork || IPAddress.IsLoopback(ip) != loopback)
                {
                    continue;
                }

                candidates.Add(new Candidate(CandidateKind.Host, new IPEndPoint(ip, local.Port)));
                if (candidates.Count == RendezvousMessages.MaxCandidates - 2)
                {
                    return candidates;
                }
            }
        }

        return candidates;
    }

    private static string UntrustedText(string text) => OmniStore.Internal.UntrustedText.Escape(text, 80);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_registration is not null)
        {
            await _registration.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_portMapping is not null)
        {
            await _portMapping.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (PortMapper is { } mapper)
        {
            await mapper.DisposeAsync().ConfigureAwait(false); // the gateway's forwarding goes with the node
        }

        if (_rendezvous is { } connection)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        if (_ownsEndpoint)
        {
            _socket.Endpoint.Dispose();
        }
    }

    /// <summary>One dial's checks: one transaction per candidate, resent at a steady pace; the first answer wins.</summary>
    private sealed class DialAttempt(NatTraversal owner, List<Candidate> candidates, CancellationToken token)
    {
        private readonly ConcurrentDictionary<IPEndPoint, byte> _checking = new();

        private readonly ConcurrentBag<Candidate> _answered = [];

        public TaskCompletionSource<Candidate?> Winner { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The most direct candidate that answered so far (host, then mapped, then reflexive).</summary>
        public Candidate? Best => _answered.IsEmpty ? null : _answered.MinBy(c => c.Kind);

        public void Check(Candidate candidate)
        {
            if (_checking.Count >= 2 * RendezvousMessages.MaxCandidates || !_checking.TryAdd(candidate.Address, 0))
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                try
                {
                    var request = new StunMessage(StunType.BindingRequest, StunMessage.NewTransactionId()) { Software = "OmniStore", Username = CheckTag.Write(candidate.Kind) };
                    var (answer, _) = await owner._socket.TransactAsync(candidate.Address, request, owner.CheckSchedule, token).ConfigureAwait(false);
                    if (answer.Type == StunType.BindingSuccess)
                    {
                        _answered.Add(candidate);
                        Winner.TrySetResult(candidate);
                    }
                }
                catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
                {
                    // No answer from this one: another may.
                }
            }, CancellationToken.None);
        }

        /// <summary>A Binding request arrived: from the peer's address on a port no candidate names, it is the peer's mapping for us (peer-reflexive).</summary>
        public void OnRequest(IPEndPoint from, StunMessage request)
        {
            var ip = from.Address.IsIPv4MappedToIPv6 ? from.Address.MapToIPv4() : from.Address;
            if (!token.IsCancellationRequested && candidates.Any(c => c.Kind != CandidateKind.Relayed && c.Address.Address.Equals(ip)))
            {
                Check(new Candidate(CandidateKind.Reflexive, new IPEndPoint(ip, from.Port)));
            }
        }
    }

    /// <summary>rudp from this traversal's one socket: its connection to the rendezvous (under TLS or not).</summary>
    private sealed class SharedSocketRudp(NatTraversal owner) : ITransport
    {
        public string Scheme => "rudp";

        public async Task<TransportConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken)
        {
            var family = owner._socket.Endpoint.LocalEndPoint.AddressFamily;
            var ip = HostResolver.Resolve(address, forListening: false)
                .FirstOrDefault(ip => ip.AddressFamily == family || family == AddressFamily.InterNetworkV6)
                ?? throw new OmniStoreException(OmniStoreError.Unavailable, $"The rendezvous {address} has no address of this socket's family.");
            owner._rendezvousEndPoint = new IPEndPoint(ip, address.Port);
            return await RudpConnection.ConnectAsync(owner._socket.Endpoint, ownsEndpoint: false, owner._rendezvousEndPoint, counters, cancellationToken).ConfigureAwait(false);
        }

        public IConnectionListener Listen(NodeAddress address) => throw new NotSupportedException("NAT traversal's socket dials only.");
    }

    /// <summary>A connectivity check's USERNAME: <c>omnistore-check/KIND</c>, the kind of candidate it was sent to.</summary>
    private static class CheckTag
    {
        private static readonly byte[] Prefix = "omnistore-check/"u8.ToArray();

        public static byte[] Write(CandidateKind kind) => [.. Prefix, (byte)('0' + (int)kind)];

        public static CandidateKind? Read(byte[]? username) =>
            username is { Length: > 0 } tag && tag.Length == Prefix.Length + 1 && tag.AsSpan().StartsWith(Prefix) && tag[^1] - '0' is int kind and >= (int)CandidateKind.Host and <= (int)CandidateKind.Reflexive
                ? (CandidateKind)kind
                : null;
    }
}
