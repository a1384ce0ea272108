using System.Net;
using System.Security.Cryptography;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>What a call into a <see cref="RudpConnectionCore"/> made happen, for its owner to act on outside its lock.</summary>
[Flags]
internal enum CoreEvents
{
    None = 0,

    /// <summary>Stream bytes (or its end) became readable.</summary>
    Readable = 1,

    /// <summary>Room in the send buffer grew.</summary>
    Writable = 2,

    /// <summary>The handshake finished.</summary>
    Established = 4,

    /// <summary>The connection ended (see <see cref="RudpConnectionCore.Failure"/>).</summary>
    Closed = 8,
}

/// <summary>
/// One rudp connection's protocol state (docs/rudp.md): the handshake, packets in and out, acks,
/// loss detection, congestion control and pacing, the stream's two buffers, path validation, path
/// MTU probing, idle timeout and closing. Not thread-safe and never blocking: its owner
/// (<see cref="RudpConnection"/>) calls it under one lock from the socket's receive thread, its send
/// thread and the application's pumps, and acts on the <see cref="CoreEvents"/> it returns.
/// Everything a peer sends is checked here before it is used. Times in microseconds.
/// </summary>
internal sealed class RudpConnectionCore
{
    private enum Phase
    {
        Handshake,   // client: sending Initials
        Established,
        Lingering,   // closed by the application: the rest of the stream and its FIN still go
        Closed,
    }

    /// <summary>CONNECTION_CLOSE codes.</summary>
    public const long NoError = 0;
    public const long ProtocolViolation = 1;
    public const long Aborted = 2;
    public const long IdleTimeoutCode = 3;

    private const int ProbeCount = 3;            // unacknowledged probes of one size before it is given up
    private const long ProbeRetry = 600_000_000; // a path is searched again after 10 minutes
    private const int MaxProbesPerTurn = 1;

    private readonly RudpSettings _settings;
    private readonly bool _isClient;
    private readonly RttEstimator _rtt = new();
    private readonly LossDetector _loss;
    private readonly ICongestionController _cc;
    private readonly DeliveryRateSampler _sampler = new();
    private readonly AckTracker _acks;
    private readonly StreamReceiveBuffer _receive;
    private readonly List<SentPacket> _acknowledged = [];
    private readonly List<SentPacket> _lost = [];
    private readonly AckRange[] _ackRanges = new AckRange[FrameReader.MaxAckRanges];
    private readonly Dictionary<long, int> _probes = []; // MTU probes in flight: packet number -> size

    private StreamSendBuffer _send;
    private Phase _phase;
    private CoreEvents _events;
    private long _nextPacketNumber;
    private long _lastReceivedAt;
    private long _lastSentAt;
    private long _lastAckElicitingSentAt;
    private int _ptoCount;
    private int _probesDue;          // ack-eliciting packets a probe timeout asks for, sent even when the window is full
    private bool _pingDue;
    private long? _maxDataDue;
    private bool _dataBlockedSent;
    private long _maxDataPacket = -1;      // the packet that carried the latest MAX_DATA: if it is lost, the limit goes again
    private long _dataBlockedPacket = -1;
    private long _peerIdleTimeout;
    private long _peerMaxAckDelay;
    private long _lingerDeadline;
    private long _handshakeDeadline;
    private long _nextInitialAt;
    private long _initialInterval = 200_000;
    private long _initialSentAt = -1;
    private int _initialsSinceRetry;
    private long _firstInitialAt = -1;  // the first Initial of all, while it is the only one: the Retry's round trip paces the next   // when the one Initial since the last Retry left; -1 once one was sent again (Karn: no sample)
    private byte[]? _token;
    private ConnectionId _initialDestination;
    private bool _retried;
    private bool _acceptDue;
    private long _acceptSentAt = long.MinValue;
    private (long Code, string Reason)? _closeDue;

    // Pacing: a token bucket refilled at the pacing rate, holding at most one quantum.
    private double _tokens;
    private long _tokensAt;

    // Path MTU (DPLPMTUD): the confirmed size, and a binary search between it and the largest untried.
    private int _datagram;
    private int _searchLow;
    private int _searchHigh;
    private int _probeSize;
    private int _probeFailures;
    private int _largestAllowed; // the most either end accepts: where a new search may go
    private long _nextProbeAt;

    // Path validation after the peer's address changed.
    private SocketAddress? _challengedAddress;
    private byte[]? _challengeData;
    private byte[]? _responseData;
    private SocketAddress? _responseAddress;
    private long _challengeSentAt = long.MinValue / 2;
    private long _windowGrownAt;
    private long _lastWindowUpdateAt;

    private RudpConnectionCore(RudpSettings settings, bool isClient, ConnectionId localId, SocketAddress peer, long now)
    {
        _settings = settings;
        _isClient = isClient;
        LocalId = localId;
        Peer = peer;
        _loss = new LossDetector(_rtt);
        _cc = settings.CongestionControl == "cubic" ? new Cubic(settings.BaseDatagram, _rtt) : new Bbr(settings.BaseDatagram, now);
        _acks = new AckTracker(settings.MaxAckDelay);
        _receive = new StreamReceiveBuffer(settings.InitialWindow, initialRing: 64 * 1024);
        _send = new StreamSendBuffer(settings.MaxWindow, 0, initialRing: 64 * 1024);
        _datagram = settings.BaseDatagram;
        _searchLow = _datagram;
        _searchHigh = Math.Max(_datagram, settings.MaxProbedDatagram);
        _largestAllowed = _searchHigh;
        _lastReceivedAt = now;
        _lastSentAt = now;
        _tokensAt = now;
        _peerIdleTimeout = (long)settings.IdleTimeout.TotalMicroseconds;
        _peerMaxAckDelay = settings.MaxAckDelay;
    }

    /// <summary>Where window growth beyond the initial window comes from (the socket's budget), or null for none.</summary>
    public RudpWindowBudget? WindowBudget { get; init; }

    private long _budgetTaken;

    /// <summary>This end's connection id: what the peer puts in the packets it sends here.</summary>
    public ConnectionId LocalId { get; }

    /// <summary>The peer's connection id.</summary>
    public ConnectionId RemoteId { get; private set; }

    /// <summary>The peer's address: where packets go (changes once a new path is validated).</summary>
    public SocketAddress Peer { get; private set; }

    /// <summary>Why the connection ended, when it ended badly; null while open and after a clean close.</summary>
    public Exception? Failure { get; private set; }

    public bool IsClosed => _phase == Phase.Closed;

    /// <summary>Whether the application closed it and the rest of its stream is still going.</summary>
    public bool IsLingering => _phase == Phase.Lingering;

    public bool IsEstablished => _phase is Phase.Established or Phase.Lingering;

    /// <summary>The largest datagram this connection sends now (the path MTU confirmed so far).</summary>
    public int MaxDatagram => _datagram;

    /// <summary>Counters for status.</summary>
    public long PacketsSent { get; private set; }

    public long PacketsLost { get; private set; }

    /// <summary>Path MTU probes that did not arrive (not counted in <see cref="PacketsLost"/>).</summary>
    public long ProbesLost { get; private set; }

    public long PacketsReceived { get; private set; }

    public long BytesRetransmitted { get; private set; }

    public long ProtocolErrors { get; private set; }

    public int PathChanges { get; private set; }

    /// <summary>Times the path's MTU seemed to shrink (a black hole) and the size went back to the base.</summary>
    public int BlackHoles { get; private set; }

    public RttEstimator Rtt => _rtt;

    public ICongestionController Congestion => _cc;

    public long BytesInFlight => _loss.BytesInFlight;

    public int ReceiveWindow => _receive.Window;

    /// <summary>Bytes allocated for the stream's two buffers now.</summary>
    public long BufferBytes => _receive.Allocated + _send.Allocated;

    /// <summary>Stream bytes the peer acknowledged (the contiguous prefix).</summary>
    public long BytesAcknowledged => _send.AckedPrefix;

    /// <summary>A client's side: it sends Initials until the server accepts (or the handshake times out).</summary>
    public static RudpConnectionCore ForClient(RudpSettings settings, SocketAddress server, long now, RudpWindowBudget? budget = null)
    {
        var core = new RudpConnectionCore(settings, isClient: true, ConnectionId.NewRandom(), server, now)
        {
            WindowBudget = budget,
            _phase = Phase.Handshake,
            _initialDestination = ConnectionId.NewRandom(),
            _nextInitialAt = now,
        };
        core._handshakeDeadline = now + (long)settings.HandshakeTimeout.TotalMicroseconds;
        return core;
    }

    /// <summary>A server's side of a validated Initial, about to send its Accept.</summary>
    public static RudpConnectionCore ForServer(RudpSettings settings, ConnectionId localId, ConnectionId clientId, SocketAddress client, RudpParameters clientParameters, long now, RudpWindowBudget? budget = null)
    {
        var core = new RudpConnectionCore(settings, isClient: false, localId, client, now)
        {
            WindowBudget = budget,
            _phase = Phase.Established,
            RemoteId = clientId,
        };
        core.ApplyPeerParameters(clientParameters);
        return core;
    }

    /// <summary>The parameters this end offers.</summary>
    public RudpParameters OwnParameters => RudpIncoming.Own(_settings);

    /// <summary>Returns and clears what happened since the last call.</summary>
    public CoreEvents TakeEvents()
    {
        var events = _events;
        _events = CoreEvents.None;
        return events;
    }

    // ---------------------------------------------------------------- the application's side

    /// <summary>Takes as much of <paramref name="data"/> as the send buffer has room for (bounded by the peer's window plus a little), returns how many.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        if (_phase != Phase.Established)
        {
            return data.IsEmpty ? 0 : throw new IOException(Failure?.Message ?? "The rudp connection is closed.", Failure);
        }

        long room = Math.Min(_send.Free, _send.PeerLimit + (256 * 1024) - _send.Written);
        return room <= 0 ? 0 : _send.Write(data[..(int)Math.Min(data.Length, room)]);
    }

    /// <summary>Whether the application could write now.</summary>
    public bool CanWrite => _phase != Phase.Established || Math.Min(_send.Free, _send.PeerLimit + (256 * 1024) - _send.Written) > 0;

    /// <summary>Ends the stream after what was written (a FIN goes with its last bytes).</summary>
    public void CloseStream()
    {
        if (_phase is Phase.Established or Phase.Handshake)
        {
            _send.Close();
        }
    }

    /// <summary>Bytes ready to read.</summary>
    public long Readable => _receive.Readable;

    /// <summary>Whether the whole stream has been read (the peer sent its FIN and every byte before it).</summary>
    public bool ReadFinished => _receive.Finished;

    /// <summary>Reads stream bytes into <paramref name="destination"/>; a window update is sent when half a window was read (and the window grows when it is read fast).</summary>
    public int Read(Span<byte> destination, long now)
    {
        int read = _receive.Read(destination);
        if (read > 0 && _receive.WindowUpdate() is { } limit)
        {
            // Auto-tuning (docs/rudp.md, "Flow control"): a window consumed in under two round
            // trips limited the sender, so the next one is twice as large, up to the maximum.
            // The growth comes out of the socket's budget (all its connections' windows beyond their
            // first), so many fast connections cannot each take the maximum.
            int grown = Math.Min(_settings.MaxWindow, _receive.Window * 2);
            if (_lastWindowUpdateAt > 0 && now - _lastWindowUpdateAt < 2 * _rtt.Smoothed && _receive.Window < _settings.MaxWindow && now - _windowGrownAt > _rtt.Smoothed
                && (WindowBudget is null || WindowBudget.TryTake(grown - _receive.Window)))
            {
                _budgetTaken += grown - _receive.Window;
                _receive.GrowWindow(grown);
                _windowGrownAt = now;
                limit = _receive.WindowUpdate() ?? limit;
            }

            _lastWindowUpdateAt = now;
            _maxDataDue = Math.Max(_maxDataDue ?? 0, limit);
        }

        return read;
    }

    /// <summary>The application closed the connection: the rest of the stream goes (for at most the linger time), then CONNECTION_CLOSE; reading stops.</summary>
    public void Shutdown(long now)
    {
        switch (_phase)
        {
            case Phase.Handshake:
                Close(null);
                break;
            case Phase.Established:
                _send.Close();
                _phase = Phase.Lingering;
                _lingerDeadline = now + (long)_settings.LingerTimeout.TotalMicroseconds;
                if (_send.Done)
                {
                    _closeDue = (NoError, "");
                }

                break;
        }
    }

    /// <summary>Closes at once with <paramref name="code"/> and <paramref name="reason"/> told to the peer (if established).</summary>
    public void Abort(long code, string reason, Exception? failure)
    {
        if (_phase is Phase.Established or Phase.Lingering)
        {
            _closeDue = (code, reason);
        }

        Close(failure);
    }

    private void Close(Exception? failure)
    {
        if (_phase == Phase.Closed)
        {
            return;
        }

        Failure ??= failure;
        _phase = Phase.Closed;
        WindowBudget?.Return(_budgetTaken);
        _budgetTaken = 0;
        _events |= CoreEvents.Closed | CoreEvents.Readable | CoreEvents.Writable;
    }

    private void Fail(string message, long code)
    {
        if (code == ProtocolViolation)
        {
            ProtocolErrors++;
        }

        Abort(code, message, new IOException(message));
    }

    // ---------------------------------------------------------------- packets in

    /// <summary>A Retry from the server (client, during the handshake): the next Initial carries its token to the id it names.</summary>
    public void OnRetry(PacketHeader header, ReadOnlySpan<byte> token, SocketAddress from, long now)
    {
        if (_phase != Phase.Handshake || _retried || !from.Equals(Peer) || token.IsEmpty || token.Length > PacketHeader.MaxTokenLength)
        {
            return; // one Retry per handshake, from the address we sent to (RFC 9000 section 17.2.5.2)
        }

        _retried = true;
        _token = token.ToArray();
        _initialDestination = header.Source;
        _nextInitialAt = now;
        _initialInterval = Math.Max(200_000, 3 * SampleOfTheFirstInitial(now));
        _initialSentAt = -1;
    }

    /// <summary>The Retry's round trip, when it answered the only Initial sent (else 0): the second Initial is resent no sooner than 3 of these.</summary>
    private long SampleOfTheFirstInitial(long now)
    {
        long sample = _initialsSinceRetry == 1 && _firstInitialAt >= 0 ? now - _firstInitialAt : 0;
        _initialsSinceRetry = 0;
        return sample;
    }

    /// <summary>The server's Accept (client): the connection is established.</summary>
    public void OnAccept(PacketHeader header, ReadOnlySpan<byte> payload, SocketAddress from, long now)
    {
        if (_phase != Phase.Handshake || !from.Equals(Peer))
        {
            return;
        }

        if (RudpParameters.TryRead(payload, out string? problem) is not { } parameters)
        {
            ProtocolErrors++;
            Close(new IOException($"The rudp server sent {problem}."));
            return;
        }

        RemoteId = header.Source;
        ApplyPeerParameters(parameters);
        _phase = Phase.Established;
        _lastReceivedAt = now;
        if (_rtt is { HasSample: false } && _initialSentAt >= 0)
        {
            // The Initial's round trip is the first RTT sample, but only when one Initial went since
            // the Retry: with two in flight, the Accept may answer either (Karn's rule). A sample
            // taken from the latest of Initials resent every 200 ms on a 300 ms path read 112 ms,
            // and the minimum RTT, which never rises, held BBR's window at a third of the path's.
            _rtt.Update(now - _initialSentAt, 0, 0);
            _acks.OnRtt(_rtt.Smoothed);
            _cc.OnInitialRtt(_rtt.Latest);
        }

        _events |= CoreEvents.Established | CoreEvents.Writable;
    }

    /// <summary>The server: the client sent its Initial again (our Accept was lost); the Accept goes again, at most once per 100 ms.</summary>
    public void OnRepeatedInitial(long now)
    {
        if (_phase == Phase.Established && now - _acceptSentAt > 100_000 && _acks.Largest < 0)
        {
            _acceptDue = true;
        }
    }

    /// <summary>VersionNegotiation (client, during the handshake): the server speaks none of our versions.</summary>
    public void OnVersionNegotiation(ReadOnlySpan<byte> versions, SocketAddress from)
    {
        if (_phase != Phase.Handshake || !from.Equals(Peer))
        {
            return;
        }

        var list = new List<string>();
        for (int at = 0; at + 4 <= versions.Length && list.Count < 16; at += 4)
        {
            list.Add(System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(versions[at..]).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Close(new OmniStoreException(OmniStoreError.Unavailable, $"The rudp server speaks version(s) {string.Join(", ", list)}; this build speaks {PacketHeader.Version1}."));
    }

    /// <summary>A short-header packet for this connection (the destination id already matched).</summary>
    public void OnPacket(ReadOnlySpan<byte> datagram, PacketHeader header, SocketAddress from, long now)
    {
        if (_phase is Phase.Closed or Phase.Handshake)
        {
            return;
        }

        long number = PacketNumber.Decode(_acks.Largest, header.TruncatedPacketNumber, header.PacketNumberLength);
        var payload = datagram[header.Length..];

        // First pass: is it well formed, and does it ask for an ack?
        bool eliciting = false;
        var check = new FrameReader(payload);
        while (check.TryRead(_ackRanges, out var frame))
        {
            eliciting |= frame.Type is not (RudpFrameType.Ack or RudpFrameType.Padding or RudpFrameType.ConnectionClose);
        }

        if (check.Problem is { } problem)
        {
            Fail($"rudp protocol violation from the peer: {problem}", ProtocolViolation);
            return;
        }

        long largestBefore = _acks.Largest;
        if (!_acks.OnReceived(number, eliciting, now))
        {
            return; // a duplicate (or far too old): its frames were applied the first time
        }

        PacketsReceived++;
        _lastReceivedAt = now;
        bool newPath = !from.Equals(Peer);

        var reader = new FrameReader(payload);
        while (_phase != Phase.Closed && reader.TryRead(_ackRanges, out var frame))
        {
            switch (frame.Type)
            {
                case RudpFrameType.Ack:
                    OnAckFrame(frame, now);
                    break;
                case RudpFrameType.Stream:
                case RudpFrameType.StreamFin:
                    if (_phase == Phase.Lingering)
                    {
                        break; // nobody reads any more; the peer is told by our close
                    }

                    if (_receive.Receive(frame.Offset, frame.Data, frame.Type == RudpFrameType.StreamFin) is { } violation)
                    {
                        Fail($"rudp protocol violation from the peer: {violation}", ProtocolViolation);
                        return;
                    }

                    if (_receive.Readable > 0 || _receive.Finished || frame.Type == RudpFrameType.StreamFin)
                    {
                        _events |= CoreEvents.Readable;
                    }

                    break;
                case RudpFrameType.MaxData:
                    _send.OnMaxData(frame.Offset);
                    _dataBlockedSent = false;
                    _events |= CoreEvents.Writable;
                    break;
                case RudpFrameType.DataBlocked:
                    // The sender waits for credit: the limit goes again, in case its last MAX_DATA was lost.
                    _maxDataDue = Math.Max(_maxDataDue ?? 0, _receive.Limit);
                    break;
                case RudpFrameType.PathChallenge:
                    _responseData = frame.Data.ToArray();
                    _responseAddress = CopyOf(from);
                    break;
                case RudpFrameType.PathResponse:
                    if (_challengeData is { } expected && frame.Data.SequenceEqual(expected) && _challengedAddress is { } address && address.Equals(from))
                    {
                        Peer = address; // the new path is proven: the connection moves to it
                        PathChanges++;
                        _challengeData = null;
                        _challengedAddress = null;
                    }

                    break;
                case RudpFrameType.ConnectionClose:
                    OnPeerClose(frame.ErrorCode, System.Text.Encoding.UTF8.GetString(frame.Data));
                    return;
            }
        }

        // A newer packet from another address: the peer's NAT rebound, or it moved. Data keeps
        // going to the old address until the new one answers a challenge (RFC 9000 section 9).
        // Only the server follows: a client moves itself (MoveTo), and a server's packets still
        // arriving by the path the client left must not pull it back.
        if (newPath && !_isClient && number > largestBefore && _challengedAddress is null)
        {
            _challengedAddress = CopyOf(from);
            _challengeData = RandomNumberGenerator.GetBytes(FrameReader.PathDataSize);
        }
    }

    /// <summary>
    /// The client moves the connection to another path it knows works (NAT traversal's checks
    /// proved it): packets go there from now on. The server follows by its path validation when
    /// they arrive (RFC 9000 section 9: here the client migrates, the server validates).
    /// </summary>
    public void MoveTo(SocketAddress address)
    {
        Peer = CopyOf(address);
        PathChanges++;
        _challengeData = null;
        _challengedAddress = null;
    }

    public static SocketAddress CopyOf(SocketAddress address)
    {
        var copy = new SocketAddress(address.Family, address.Size);
        address.Buffer.Span[..address.Size].CopyTo(copy.Buffer.Span);
        return copy;
    }

    private void OnAckFrame(RudpFrame frame, long now)
    {
        _acknowledged.Clear();
        _lost.Clear();
        if (!_loss.OnAck(_ackRanges.AsSpan(0, frame.RangeCount), frame.AckDelayMicroseconds, _peerMaxAckDelay, now, _acknowledged, _lost))
        {
            Fail("rudp protocol violation from the peer: an ACK of a packet never sent", ProtocolViolation);
            return;
        }

        if (_acknowledged.Count == 0 && _lost.Count == 0)
        {
            return;
        }

        _acks.OnRtt(_rtt.Smoothed);
        _ptoCount = 0;
        foreach (var packet in _acknowledged)
        {
            if (packet.StreamLength > 0 || packet.Fin)
            {
                _send.OnAcked(packet.StreamOffset, packet.StreamLength, packet.Fin);
            }

            if (_probes.Remove(packet.Number, out int size))
            {
                OnProbeAcknowledged(size, now);
            }
        }

        var sample = _sampler.OnAck(_acknowledged, now);
        _cc.OnAck(_acknowledged, sample, _rtt.Latest, now, _loss.BytesInFlight); // BBR keeps its own windowed minimum
        OnLost(now);
        _events |= CoreEvents.Writable;
        if (_phase == Phase.Lingering && _send.Done)
        {
            _closeDue = (NoError, "");
        }
    }

    private void OnLost(long now)
    {
        if (_lost.Count == 0)
        {
            return;
        }

        int congestive = 0;
        for (int i = 0; i < _lost.Count; i++)
        {
            var packet = _lost[i];
            // Control frames are not re-sent as they were but as they are now (RFC 9000 section 13.3).
            if (packet.Number == _maxDataPacket)
            {
                _maxDataDue = Math.Max(_maxDataDue ?? 0, _receive.Limit);
            }

            if (packet.Number == _dataBlockedPacket)
            {
                _dataBlockedSent = false;
            }

            if (_probes.Remove(packet.Number, out int size))
            {
                OnProbeLost(size, now);
                continue; // a probe that did not fit is no sign of congestion (RFC 8899 section 4.4), nor a lost packet of the stream
            }

            PacketsLost++;

            if (packet.StreamLength > 0 || packet.Fin)
            {
                _send.OnLost(packet.StreamOffset, packet.StreamLength, packet.Fin);
                BytesRetransmitted += packet.StreamLength;
            }

            _lost[congestive++] = packet;
        }

        _lost.RemoveRange(congestive, _lost.Count - congestive);
        if (_lost.Count > 0)
        {
            _cc.OnLoss(_lost, now, _loss.BytesInFlight);
        }
    }

    private void OnPeerClose(long code, string reason)
    {
        string shown = OmniStore.Internal.UntrustedText.Escape(reason);
        if (_phase == Phase.Lingering || (code == NoError && _receive.FinalSize >= 0 && _receive.ReadOffset + _receive.Readable == _receive.FinalSize))
        {
            Close(null);
        }
        else
        {
            Close(new IOException(code == IdleTimeoutCode
                ? $"The rudp peer closed the connection: it heard nothing for its idle timeout ({shown})."
                : $"The rudp peer closed the connection (code {code}{(shown.Length > 0 ? ": " + shown : "")})."));
        }
    }

    // ---------------------------------------------------------------- timers

    /// <summary>Runs what is due at <paramref name="now"/>: handshake and idle timeouts, the loss timer, probe timeouts, keep-alive, the linger deadline.</summary>
    public void OnTimers(long now)
    {
        switch (_phase)
        {
            case Phase.Closed:
                return;
            case Phase.Handshake:
                if (now >= _handshakeDeadline)
                {
                    Close(new OmniStoreException(OmniStoreError.Unavailable, $"no rudp answer in {_settings.HandshakeTimeout.TotalSeconds:0.#} s"));
                }

                return;
        }

        long idle = Math.Min((long)_settings.IdleTimeout.TotalMicroseconds, _peerIdleTimeout);
        if (now - _lastReceivedAt >= idle)
        {
            Abort(IdleTimeoutCode, "idle timeout", new OmniStoreException(OmniStoreError.Unavailable, $"rudp peer silent for {idle / 1_000_000.0:0.#} s"));
            return;
        }

        if (_phase == Phase.Lingering && now >= _lingerDeadline)
        {
            Abort(Aborted, "closed with data unacknowledged", null);
            return;
        }

        if (_loss.LossTime() is { } lossTime)
        {
            if (lossTime <= now)
            {
                _lost.Clear();
                _loss.DetectLost(now, _lost);
                OnLost(now);
                _events |= CoreEvents.Writable;
            }
        }
        else if (_loss.PacketsInFlight > 0 && now >= ProbeDeadline())
        {
            // Nothing acknowledged for a probe timeout: one or two ack-eliciting packets go even with
            // the window full, and their acks reveal what was lost (RFC 9002 section 6.2.4).
            _ptoCount = Math.Min(_ptoCount + 1, 16);
            _probesDue = 2;
            _pingDue = true;

            // A black hole (RFC 8899 section 4.3): two probe timeouts in a row with datagrams above
            // the base size may mean the path's MTU shrank (a new route, a tunnel); back to the base
            // size, whose packets every path carries, and search again below the size that failed.
            if (_ptoCount >= 2 && _datagram > _settings.BaseDatagram)
            {
                _searchHigh = _datagram - 1;
                _datagram = _settings.BaseDatagram;
                _searchLow = _datagram;
                _probeFailures = 0;
                _nextProbeAt = now;
                BlackHoles++;
            }
        }

        // Keep-alive: a third of the idle timeout without sending anything.
        if (now - _lastSentAt >= idle / 3)
        {
            _pingDue = true;
        }
    }

    private long ProbeDeadline() => _lastAckElicitingSentAt + (_rtt.ProbeTimeout(_peerMaxAckDelay) << _ptoCount);

    /// <summary>When this connection next needs its send thread (a timer, a paced send), or long.MaxValue.</summary>
    public long NextWake(long now)
    {
        switch (_phase)
        {
            case Phase.Closed:
                return long.MaxValue;
            case Phase.Handshake:
                return Math.Min(_nextInitialAt, _handshakeDeadline);
        }

        long idle = Math.Min((long)_settings.IdleTimeout.TotalMicroseconds, _peerIdleTimeout);
        long next = Math.Min(_lastReceivedAt + idle, _lastSentAt + (idle / 3));
        if (_phase == Phase.Lingering)
        {
            next = Math.Min(next, _lingerDeadline);
        }

        if (_acks.AckDueAt(now) is { } ackAt)
        {
            next = Math.Min(next, ackAt);
        }

        if (_loss.LossTime() is { } lossAt)
        {
            next = Math.Min(next, lossAt);
        }
        else if (_loss.PacketsInFlight > 0)
        {
            next = Math.Min(next, ProbeDeadline());
        }

        if (HasControlDue(now) || _closeDue is not null)
        {
            return now;
        }

        if (!_send.Idle && CongestionAllows(_datagram))
        {
            next = Math.Min(next, PacedAt(now));
        }

        return next;
    }

    private bool HasControlDue(long now) =>
        _acceptDue || _pingDue || _maxDataDue is not null || _responseData is not null || (_challengeData is not null && now - _challengeSentAt > 200_000);

    // ---------------------------------------------------------------- packets out

    private bool CongestionAllows(int size) => _probesDue > 0 || _loss.BytesInFlight + size <= _cc.CongestionWindow;

    private double Quantum => Math.Max(2.0 * _datagram, _cc.PacingRate * 0.002);

    /// <summary>
    /// Refills the pacer's bucket for the time since the last refill. It holds a quantum (2 ms at
    /// the pacing rate), or what the elapsed time earned when the send thread woke late (up to
    /// 10 ms): a thread on a busy machine that wakes 3 ms late sends what was due, rather than
    /// losing it, which would keep the rate below the model's and make the model measure that.
    /// </summary>
    private void Refill(long now)
    {
        if (now > _tokensAt)
        {
            double earned = _cc.PacingRate * (now - _tokensAt) / 1_000_000.0;
            double cap = Math.Max(Quantum, _cc.PacingRate * Math.Min(now - _tokensAt, 10_000) / 1_000_000.0);
            _tokens = Math.Min(cap, _tokens + earned);
            _tokensAt = now;
        }
    }

    /// <summary>When the pacer lets the next full packet go.</summary>
    private long PacedAt(long now)
    {
        Refill(now);
        if (_tokens >= 0 || _probesDue > 0)
        {
            return now;
        }

        long rate = Math.Max(_cc.PacingRate, 1);
        return now + (long)Math.Ceiling(-_tokens * 1_000_000.0 / rate);
    }

    /// <summary>
    /// Writes the next packet due at <paramref name="now"/> into <paramref name="buffer"/> (at
    /// least <see cref="MaxDatagram"/> bytes, or the probe size) and says where it goes; 0 when
    /// nothing is due (acks, control frames, paced stream data, a probe).
    /// </summary>
    public int Build(Span<byte> buffer, long now, out SocketAddress to)
    {
        to = Peer;
        switch (_phase)
        {
            case Phase.Closed when _closeDue is { } close:
                _closeDue = null;
                return BuildClose(buffer, close.Code, close.Reason);
            case Phase.Closed:
                return 0;
            case Phase.Handshake:
                return BuildInitial(buffer, now);
        }

        if (_acceptDue)
        {
            _acceptDue = false;
            _acceptSentAt = now;
            int at = PacketHeader.WriteLong(buffer, PacketType.Accept, PacketHeader.Version1, RemoteId, LocalId);
            at += OwnParameters.Write(buffer[at..]);
            return Sent(at, now);
        }

        if (_closeDue is { } due)
        {
            _closeDue = null;
            int size = BuildClose(buffer, due.Code, due.Reason);
            Close(null);
            return size;
        }

        if (_responseData is { } response && _responseAddress is { } responseTo)
        {
            // PATH_RESPONSE goes to the address the challenge came from, alone.
            to = responseTo;
            _responseData = null;
            _responseAddress = null;
            return BuildControl(buffer, now, RudpFrameType.PathResponse, response);
        }

        if (_challengeData is { } challenge && _challengedAddress is { } challenged && now - _challengeSentAt > 200_000)
        {
            to = challenged;
            _challengeSentAt = now;
            return BuildControl(buffer, now, RudpFrameType.PathChallenge, challenge);
        }

        bool ackDue = _acks.AckDueAt(now) is { } ackAt && ackAt <= now;
        bool control = _pingDue || _maxDataDue is not null;

        // An MTU probe, when the search has a size to try and the window has room for it.
        // The search is done: it starts again every 10 minutes, up to the largest either end accepts
        // (a path's MTU may have grown since).
        if (_probeSize == 0 && _searchHigh <= _searchLow + 8 && now >= _nextProbeAt && _largestAllowed > _searchLow + 8)
        {
            _searchHigh = _largestAllowed;
        }

        if (!ackDue && !control && _probeSize == 0 && NextProbeSize() is > 0 and var probeSize && now >= _nextProbeAt && _loss.BytesInFlight + probeSize <= _cc.CongestionWindow && buffer.Length >= probeSize)
        {
            return BuildProbe(buffer, probeSize, now);
        }

        bool streamDue = !_send.Idle && CongestionAllows(_datagram) && PacedAt(now) <= now;
        if (!ackDue && !control && !streamDue)
        {
            if (_send.Idle && _loss.BytesInFlight < _cc.CongestionWindow)
            {
                _sampler.OnAppLimited(_loss.BytesInFlight);
            }

            return 0;
        }

        long number = _nextPacketNumber;
        int numberLength = PacketNumber.EncodedLength(number, _loss.LargestAcknowledged);
        var packet = buffer[.._datagram];
        int written = PacketHeader.WriteShort(packet, RemoteId, number, numberLength);
        bool eliciting = false;

        if (_acks.Largest >= 0 && (ackDue || _acks.AckDueAt(now) is not null))
        {
            int ack = FrameWriter.WriteAck(packet[written..], CollectionsMarshalRanges(), _acks.AckDelay(now));
            written += ack;
            if (ack > 0)
            {
                _acks.OnAckSent();
            }
        }

        if (_maxDataDue is { } limit)
        {
            int frame = FrameWriter.WriteLimit(packet[written..], RudpFrameType.MaxData, limit);
            if (frame > 0)
            {
                written += frame;
                _maxDataDue = null;
                _maxDataPacket = number;
                eliciting = true;
            }
        }

        if (_pingDue && written < packet.Length)
        {
            packet[written++] = (byte)RudpFrameType.Ping;
            _pingDue = false;
            eliciting = true;
        }

        long streamOffset = 0;
        int streamLength = 0;
        bool fin = false;
        if (streamDue || (eliciting && !_send.Idle && CongestionAllows(_datagram)))
        {
            // A STREAM frame's header of a fixed size (type, the offset in 8 bytes, the length in 4),
            // so the bytes are copied once, from the send buffer straight to their place.
            const int StreamHeader = 1 + 8 + 4;
            int room = packet.Length - written - StreamHeader;
            if (room > 0 && _send.Next(room) is { } range)
            {
                packet[written] = (byte)(range.Fin ? RudpFrameType.StreamFin : RudpFrameType.Stream);
                Varint.WriteFixed(packet[(written + 1)..], (ulong)range.Offset, 8);
                Varint.WriteFixed(packet[(written + 9)..], (ulong)range.Length, 4);
                _send.CopyTo(range.Offset, packet.Slice(written + StreamHeader, range.Length));
                written += StreamHeader + range.Length;
                streamOffset = range.Offset;
                streamLength = range.Length;
                fin = range.Fin;
                eliciting = true;
            }
            else if (_send.Blocked && !_dataBlockedSent)
            {
                written += FrameWriter.WriteLimit(packet[written..], RudpFrameType.DataBlocked, _send.PeerLimit);
                _dataBlockedSent = true;
                _dataBlockedPacket = number;
                eliciting = true;
            }
        }

        if (written == PacketHeader.ShortHeaderLength(numberLength))
        {
            return 0; // nothing fitted after all
        }

        _nextPacketNumber++;
        if (eliciting)
        {
            OnAckElicitingSent(number, written, streamOffset, streamLength, fin, now);
        }
        else
        {
            _loss.OnSentUntracked(number);
        }

        return Sent(written, now);
    }

    private readonly AckRange[] _ackScratch = new AckRange[AckTracker.MaxRanges];

    private ReadOnlySpan<AckRange> CollectionsMarshalRanges()
    {
        var ranges = _acks.Ranges;
        for (int i = 0; i < ranges.Count; i++)
        {
            _ackScratch[i] = ranges[i];
        }

        return _ackScratch.AsSpan(0, ranges.Count);
    }

    private void OnAckElicitingSent(long number, int size, long streamOffset, int streamLength, bool fin, long now)
    {
        // A packet after which nothing is left to send, under the window, is the application's
        // limit, not the path's (Linux's tcp_rate_check_app_limited, at every send): so are a
        // handshake's messages, pings and path MTU probes on an idle link. Their rounds, counted as
        // the path's, made BBR leave Startup before the first data with a ~100 KB/s estimate.
        if (_send.Idle && _loss.BytesInFlight + size < _cc.CongestionWindow)
        {
            _sampler.OnAppLimited(_loss.BytesInFlight + size);
        }

        var packet = _sampler.Stamp(new SentPacket(number, now, size, true, streamOffset, streamLength, fin, 0, 0, false), now, _loss.BytesInFlight);
        _loss.OnSent(packet);
        _lastAckElicitingSentAt = now;
        if (_probesDue > 0)
        {
            _probesDue--;
        }

        Refill(now);
        _tokens -= size;
    }

    private int Sent(int size, long now)
    {
        PacketsSent++;
        _lastSentAt = now;
        return size;
    }

    private int BuildControl(Span<byte> buffer, long now, RudpFrameType type, byte[] data)
    {
        long number = _nextPacketNumber++;
        int numberLength = PacketNumber.EncodedLength(number, _loss.LargestAcknowledged);
        int at = PacketHeader.WriteShort(buffer, RemoteId, number, numberLength);
        buffer[at++] = (byte)type;
        data.CopyTo(buffer[at..]);
        at += data.Length;

        // Padded to the base size: a path that carries it is a path (RFC 9000 section 8.2.1).
        int size = Math.Max(at, _settings.BaseDatagram);
        buffer[at..size].Clear();
        OnAckElicitingSent(number, size, 0, 0, false, now);
        return Sent(size, now);
    }

    private int BuildProbe(Span<byte> buffer, int size, long now)
    {
        long number = _nextPacketNumber++;
        int numberLength = PacketNumber.EncodedLength(number, _loss.LargestAcknowledged);
        int at = PacketHeader.WriteShort(buffer, RemoteId, number, numberLength);
        buffer[at++] = (byte)RudpFrameType.Ping;
        buffer[at..size].Clear(); // PADDING
        _probeSize = size;
        _probes[number] = size;
        OnAckElicitingSent(number, size, 0, 0, false, now);
        return Sent(size, now);
    }

    /// <summary>The largest datagram of an Ethernet path (1500 - 28): the size most paths have, tried first.</summary>
    private const int EthernetDatagram = 1472;

    /// <summary>
    /// The next size to probe, or 0 when the search is over: Ethernet's 1472 first; above it, the
    /// largest allowed (jumbo frames, loopback), and if that fails the search ends at 1472 (paths
    /// between the two are rare, and each size given up costs three lost probes); below it (a
    /// tunnel), a binary search.
    /// </summary>
    private int NextProbeSize()
    {
        if (_searchHigh <= _searchLow + 8)
        {
            return 0;
        }

        if (_searchLow < EthernetDatagram && EthernetDatagram <= _searchHigh)
        {
            return EthernetDatagram;
        }

        return _searchLow >= EthernetDatagram ? _searchHigh : (_searchLow + _searchHigh + 1) / 2;
    }

    private void OnProbeAcknowledged(int size, long now)
    {
        _probeSize = 0;
        _probeFailures = 0;
        _datagram = Math.Max(_datagram, size);
        _cc.OnMaxDatagram(_datagram);
        _searchLow = _datagram;
        if (_searchHigh <= _searchLow + 8)
        {
            _nextProbeAt = now + ProbeRetry;
        }
    }

    private void OnProbeLost(int size, long now)
    {
        _probeSize = 0;
        ProbesLost++;
        if (++_probeFailures >= ProbeCount)
        {
            _probeFailures = 0;
            _searchHigh = _searchLow >= EthernetDatagram ? _searchLow : size - 1; // above Ethernet's size, one try only
            if (_searchHigh <= _searchLow + 8)
            {
                _nextProbeAt = now + ProbeRetry;
            }
        }
    }

    private int BuildInitial(Span<byte> buffer, long now)
    {
        if (now < _nextInitialAt)
        {
            return 0;
        }

        _nextInitialAt = now + _initialInterval;
        _initialInterval = Math.Min(_initialInterval * 2, 2_000_000);
        _initialSentAt = _initialsSinceRetry++ == 0 ? now : -1;
        _firstInitialAt = _firstInitialAt < 0 ? now : _firstInitialAt;
        int at = PacketHeader.WriteLong(buffer, PacketType.Initial, PacketHeader.Version1, _initialDestination, LocalId);
        var token = _token ?? [];
        at += Varint.Write(buffer[at..], (ulong)token.Length);
        token.CopyTo(buffer[at..]);
        at += token.Length;
        at += OwnParameters.Write(buffer[at..]);
        buffer[at..PacketHeader.MinInitialDatagram].Clear();
        return Sent(PacketHeader.MinInitialDatagram, now);
    }

    private int BuildClose(Span<byte> buffer, long code, string reason)
    {
        long number = _nextPacketNumber++;
        int numberLength = PacketNumber.EncodedLength(number, _loss.LargestAcknowledged);
        int at = PacketHeader.WriteShort(buffer, RemoteId, number, numberLength);
        at += FrameWriter.WriteClose(buffer[at..], code, reason);
        _loss.OnSentUntracked(number);
        PacketsSent++;
        return at;
    }

    private void ApplyPeerParameters(RudpParameters parameters)
    {
        _peerIdleTimeout = parameters.IdleTimeoutMs * 1000;
        _peerMaxAckDelay = parameters.MaxAckDelayUs;
        _send.OnMaxData(parameters.InitialMaxData);
        _searchHigh = (int)Math.Min(_searchHigh, parameters.MaxDatagram);
        _largestAllowed = _searchHigh;
    }
}
