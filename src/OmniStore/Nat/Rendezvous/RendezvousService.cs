using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;

namespace OmniStore.Nat.Rendezvous;

/// <summary>Limits of a rendezvous (docs/nat.md, "Relayed fallback").</summary>
internal sealed record RendezvousOptions
{
    /// <summary>The most names registered at once.</summary>
    public int MaxRegistrations { get; init; } = 10_000;

    /// <summary>The most introductions remembered at once (each for <see cref="SessionLifetime"/>).</summary>
    public int MaxSessions { get; init; } = 4_096;

    /// <summary>How long an introduction may be followed by RELAY.</summary>
    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The most relays open at once.</summary>
    public int MaxRelays { get; init; } = 64;

    /// <summary>Bytes per second a relay passes each way.</summary>
    public long RelayRate { get; init; } = 12_500_000;

    /// <summary>A relay ends after this long without traffic.</summary>
    public TimeSpan RelayIdle { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long the registrant has to open its side of a path.</summary>
    public TimeSpan PunchAnswerTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Introductions one connection may ask for in a burst; then one each <see cref="IntroductionInterval"/>.</summary>
    public int IntroductionBurst { get; init; } = 16;

    /// <summary>The pace of introductions per connection after the burst (each makes a registered node send datagrams where the dialer says).</summary>
    public TimeSpan IntroductionInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Relays one connection may hold open at once.</summary>
    public int MaxRelaysPerConnection { get; init; } = 4;
}

/// <summary>
/// The rendezvous (docs/nat.md): names registered over their nodes' connections, introductions
/// between a dialer and a registered node, and relays when no hole joins them. Served by any root
/// or relay (as a node module) and by <c>omnistore rendezvous</c>; it stores no data.
/// </summary>
internal sealed class RendezvousService : INodeModule, IAsyncDisposable
{
    private readonly RendezvousOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Registration> _registrations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, Session> _sessions = new();
    private readonly ConcurrentDictionary<UdpRelay, PeerConnection> _relays = new();
    private readonly ConcurrentDictionary<PeerConnection, PeerState> _peers = new();

    public RendezvousService(RendezvousOptions? options = null, ILogger? logger = null)
    {
        _options = options ?? new RendezvousOptions();
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>A second address that answers STUN (<see cref="StunServer"/>), told to every registrant; null: none.</summary>
    public IPEndPoint? OtherAddress { get; set; }

    /// <summary>Names registered now.</summary>
    public int RegistrationCount => _registrations.Count;

    /// <summary>Relays open now.</summary>
    public int RelayCount => _relays.Count;

    /// <summary>Bytes every relay passed, both ways, since the start.</summary>
    public long RelayedBytes => Interlocked.Read(ref _relayedBytes) + _relays.Keys.Sum(r => r.ForwardedBytes);

    private long _relayedBytes;

    public void AddRequests(RequestTable table)
    {
        table.Add(FrameType.Register, TreeSide.Child, RegisterAsync);
        table.Add(FrameType.Introduce, TreeSide.Child, IntroduceAsync);
        table.Add(FrameType.Relay, TreeSide.Child, RelayAsync);
    }

    /// <summary>Serves one rendezvous request (the standalone server's dispatch); anything else is a protocol error.</summary>
    public Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken) => request.Type switch
    {
        FrameType.Register => RegisterAsync(connection, request, cancellationToken),
        FrameType.Introduce => IntroduceAsync(connection, request, cancellationToken),
        FrameType.Relay => RelayAsync(connection, request, cancellationToken),
        _ => throw new OmniStoreException(OmniStoreError.ProtocolError, $"A rendezvous serves REGISTER, INTRODUCE and RELAY, not {request.Type}."),
    };

    private async Task RegisterAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var (name, candidates) = RendezvousMessages.ReadNamed(request.Payload);
        if (connection.PeerRights is { Role: Security.CertificateRole.Client })
        {
            // Under TLS a name is a node's: a client's certificate registers none (and a dialer's TLS
            // check then wants the name among the certificate's names: docs/nat.md, "TLS").
            throw new OmniStoreException(OmniStoreError.Unauthorized, $"Certificate '{connection.PeerCertificateName}' is a client's; only a relay's or a root's registers a name.");
        }

        var reflexive = connection.RemoteIPEndPoint;
        candidates = [.. candidates.Where(c => c.Kind is CandidateKind.Host or CandidateKind.Mapped)];
        var all = reflexive is null || candidates.Any(c => c.Address.Equals(reflexive)) ? candidates : [.. candidates.Take(RendezvousMessages.MaxCandidates - 1), new Candidate(CandidateKind.Reflexive, reflexive)];
        var registration = new Registration(name, connection, all);
        if (!_registrations.ContainsKey(name) && _registrations.Count >= _options.MaxRegistrations)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"This rendezvous holds {_options.MaxRegistrations} names already.");
        }

        // One name per connection: a node that registers again (its mapping changed, another name)
        // replaces its own registration; a name registered by another connection is taken over
        // (a node restarted and its old connection not yet timed out).
        var peer = Peer(connection);
        lock (peer)
        {
            if (peer.Name is { } previous && previous != name && _registrations.TryGetValue(previous, out var old) && old.Connection == connection)
            {
                _registrations.TryRemove(new KeyValuePair<string, Registration>(previous, old));
            }

            peer.Name = name;
            _registrations[name] = registration;
        }

        NatLog.Registered(_logger, name, connection.Describe(), reflexive?.ToString());
        var seen = new List<Candidate>(2);
        if (reflexive is not null)
        {
            seen.Add(new Candidate(CandidateKind.Reflexive, reflexive));
        }

        if (OtherAddress is { } other)
        {
            seen.Add(new Candidate(CandidateKind.OtherAddress, other));
        }

        var answer = RendezvousMessages.EncodeCandidates(0, default, seen);
        await connection.RespondAsync(request.Stream, FrameType.Candidates, answer).ConfigureAwait(false);
    }

    private async Task IntroduceAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var (name, candidates) = RendezvousMessages.ReadNamed(request.Payload);
        if (!_registrations.TryGetValue(name, out var registration) || !registration.Connection.IsOpen)
        {
            throw new OmniStoreException(OmniStoreError.NotFound, $"No node named '{name}' is registered at this rendezvous.");
        }

        if (!Peer(connection).TakeIntroduction(_options))
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Too many introductions on this connection: at most {_options.IntroductionBurst} at once, then one each {_options.IntroductionInterval.TotalMilliseconds:0} ms; try again.");
        }

        var dialer = DialerCandidates(connection, candidates);
        Expire();
        if (_sessions.Count >= _options.MaxSessions)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, "This rendezvous is introducing too many nodes at once; try again.");
        }

        long session = NewSession();
        _sessions[session] = new Session(registration, connection, dialer, Environment.TickCount64 + (long)_options.SessionLifetime.TotalMilliseconds);

        // The registrant opens its side first; only then does the dialer learn where to send (docs/nat.md, "Hole punching").
        await AskRegistrantAsync(registration, RendezvousMessages.EncodePunch(session, relay: false, default, dialer), cancellationToken).ConfigureAwait(false);
        NatLog.Introduced(_logger, connection.Describe(), name, session);
        await connection.RespondAsync(request.Stream, FrameType.Candidates, RendezvousMessages.EncodeCandidates(session, default, registration.Candidates)).ConfigureAwait(false);
    }

    private async Task RelayAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        long id = RendezvousMessages.ReadRelay(request.Payload);
        if (!_sessions.TryGetValue(id, out var session) || session.Dialer != connection)
        {
            throw new OmniStoreException(OmniStoreError.NotFound, "No introduction of this connection has that session (expired, or never made).");
        }

        if (_relays.Values.Count(c => c == connection) >= _options.MaxRelaysPerConnection)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"This connection holds {_options.MaxRelaysPerConnection} relays already; close one first.");
        }

        if (_relays.Count >= _options.MaxRelays)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"This rendezvous relays {_options.MaxRelays} paths already; try again later.");
        }

        var bind = connection.LocalIPEndPoint?.Address ?? IPAddress.Any;
        var relay = UdpRelay.Open(bind, _options.RelayRate, _options.RelayIdle);
        _relays[relay] = connection;
        _ = relay.Completion.ContinueWith(_ => Forget(relay), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        _ = session.Dialer.Completion.ContinueWith(_ => relay.DisposeAsync().AsTask(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        _ = session.Registration.Connection.Completion.ContinueWith(_ => relay.DisposeAsync().AsTask(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            await AskRegistrantAsync(session.Registration, RendezvousMessages.EncodePunch(id, relay: true, relay.Token, [new Candidate(CandidateKind.Relayed, relay.RegistrantSide)]), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await relay.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        NatLog.Relaying(_logger, connection.Describe(), session.Registration.Name, relay.DialerSide.ToString(), relay.RegistrantSide.ToString());
        await connection.RespondAsync(request.Stream, FrameType.Candidates, RendezvousMessages.EncodeCandidates(id, relay.Token, [new Candidate(CandidateKind.Relayed, relay.DialerSide)])).ConfigureAwait(false);
    }

    private void Forget(UdpRelay relay)
    {
        if (_relays.TryRemove(relay, out _))
        {
            Interlocked.Add(ref _relayedBytes, relay.ForwardedBytes);
        }
    }

    private async Task AskRegistrantAsync(Registration registration, byte[] punch, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.PunchAnswerTimeout);
        try
        {
            using var answer = await registration.Connection.RequestAsync(FrameType.Punch, punch, timeout.Token).ConfigureAwait(false);
            if (answer.Type != FrameType.Ok)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"Node '{registration.Name}' answered PUNCH with {answer.Type}.");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Node '{registration.Name}' did not answer its introduction within {_options.PunchAnswerTimeout.TotalSeconds:0.#} s.");
        }
        catch (OmniStoreException ex) when (ex.Error is not OmniStoreError.Unavailable)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Node '{registration.Name}' could not be introduced: {ex.Message}", ex);
        }
    }

    /// <summary>The dialer's own candidates, then the address this rendezvous sees it at.</summary>
    private static List<Candidate> DialerCandidates(PeerConnection connection, List<Candidate> candidates) =>
        connection.RemoteIPEndPoint is { } reflexive
            ? [.. candidates.Where(c => c.Kind is CandidateKind.Host or CandidateKind.Mapped).Take(RendezvousMessages.MaxCandidates - 1), new Candidate(CandidateKind.Reflexive, reflexive)]
            : [.. candidates.Where(c => c.Kind is CandidateKind.Host or CandidateKind.Mapped)];

    private long NewSession()
    {
        while (true)
        {
            long id = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8)) & long.MaxValue;
            if (id != 0 && !_sessions.ContainsKey(id))
            {
                return id;
            }
        }
    }

    private void Expire()
    {
        long now = Environment.TickCount64;
        foreach (var (id, session) in _sessions)
        {
            if (session.Expires < now || !session.Dialer.IsOpen)
            {
                _sessions.TryRemove(id, out _);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var relay in _relays.Keys)
        {
            await relay.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>What this rendezvous keeps of one connection; forgotten (with its name) when it closes.</summary>
    private PeerState Peer(PeerConnection connection)
    {
        if (_peers.TryGetValue(connection, out var known))
        {
            return known;
        }

        var state = new PeerState();
        if (_peers.TryAdd(connection, state))
        {
            _ = connection.Completion.ContinueWith(_ => Forget(connection), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return state;
        }

        return _peers[connection];
    }

    private void Forget(PeerConnection connection)
    {
        if (_peers.TryRemove(connection, out var state) && state.Name is { } name && _registrations.TryGetValue(name, out var registration) && registration.Connection == connection)
        {
            _registrations.TryRemove(new KeyValuePair<string, Registration>(name, registration));
        }
    }

    private sealed record Registration(string Name, PeerConnection Connection, List<Candidate> Candidates);

    /// <summary>A connection's name and its allowance of introductions (a token bucket).</summary>
    private sealed class PeerState
    {
        private double _tokens = -1;
        private long _last;

        public string? Name { get; set; }

        public bool TakeIntroduction(RendezvousOptions options)
        {
            lock (this)
            {
                long now = Environment.TickCount64;
                _tokens = _tokens < 0 ? options.IntroductionBurst : Math.Min(options.IntroductionBurst, _tokens + ((now - _last) / options.IntroductionInterval.TotalMilliseconds));
                _last = now;
                if (_tokens < 1)
                {
                    return false;
                }

                _tokens--;
                return true;
            }
        }
    }

    private sealed record Session(Registration Registration, PeerConnection Dialer, List<Candidate> DialerCandidates, long Expires);
}
