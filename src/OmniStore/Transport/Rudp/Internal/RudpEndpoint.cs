using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// One UDP socket and everything on it (docs/rudp.md, "Layers and threads"): a receive thread
/// that reads datagrams in batches and hands each to the connection its destination id names, or
/// to the handshake code; a send thread that runs every connection's timers and paced sends and
/// writes their packets in batches. A listener's endpoint answers Initials (a Retry with a cookie,
/// keeping nothing, then an incoming connection once the cookie comes back); a client's endpoint
/// carries its one connection.
/// </summary>
internal sealed class RudpEndpoint : IDisposable
{
    private const int ReceiveBatch = 32;
    private const int MaxStatelessQueued = 1024;

    private readonly DatagramSocket _socket;
    private readonly ConcurrentDictionary<ConnectionId, RudpConnection> _connections = new();
    private readonly Lock _scheduleGate = new();
    private readonly PriorityQueue<RudpConnection, long> _timers = new();
    private readonly ConcurrentQueue<RudpConnection> _ready = new();
    private readonly ConcurrentQueue<(byte[] Datagram, SocketAddress To)> _stateless = new();
    private readonly ConcurrentQueue<(byte[] Datagram, SocketAddress To, int Ttl)> _limitedTtl = new();
    private readonly ConcurrentDictionary<IPEndPoint, PathType> _expectedPaths = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _receiver;
    private readonly Thread _sender;
    private readonly RetryCookie? _cookie;
    private readonly Channel<RudpIncoming>? _incoming;
    private readonly ConcurrentDictionary<ConnectionId, RudpIncoming> _pendingIncoming = new();
    private volatile bool _stopping;
    private int _disposed;
    private int _statelessQueued;
    private long _lastVersionNegotiation;

    private RudpEndpoint(DatagramSocket socket, RudpSettings settings, bool listening)
    {
        _socket = socket;
        Settings = settings;
        WindowBudget = new RudpWindowBudget(settings.WindowBudget);
        if (listening)
        {
            _cookie = new RetryCookie();
            _incoming = Channel.CreateBounded<RudpIncoming>(new BoundedChannelOptions(settings.MaxPendingAccepts)
            {
                FullMode = BoundedChannelFullMode.DropWrite,
                SingleWriter = true,
            });
        }

        _receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = $"rudp receive {socket.LocalEndPoint}" };
        _sender = new Thread(SendLoop) { IsBackground = true, Name = $"rudp send {socket.LocalEndPoint}" };
        _receiver.Start();
        _sender.Start();
    }

    public RudpSettings Settings { get; }

    /// <summary>The receive window this socket's connections may still grow by.</summary>
    public RudpWindowBudget WindowBudget { get; private init; } = null!;

    public IPEndPoint LocalEndPoint => _socket.LocalEndPoint;

    /// <summary>The socket's path: portable or the Linux fast path.</summary>
    public string SocketMode => _socket.Mode;

    /// <summary>Datagrams dropped, by why, for status and tests.</summary>
    public EndpointCounters Counters { get; } = new();

    /// <summary>Connections on this socket now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Handshakes accepted but not yet opened or refused by the node.</summary>
    public int PendingCount => _pendingIncoming.Count;

    public static RudpEndpoint Listen(IPEndPoint local, RudpSettings settings) =>
        new(DatagramSocket.Open(local, settings.PortableSocket), settings, listening: true);

    public static RudpEndpoint ForClient(AddressFamily family, RudpSettings settings) =>
        new(DatagramSocket.Open(new IPEndPoint(family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), settings.PortableSocket), settings, listening: false);

    /// <summary>The next connection a client asked for and proved its address for.</summary>
    public ValueTask<RudpIncoming> AcceptAsync(CancellationToken cancellationToken) =>
        _incoming!.Reader.ReadAsync(cancellationToken);

    /// <summary>Starts <paramref name="connection"/> on this socket: it is found by its id and driven by the send thread.</summary>
    public void Add(RudpConnection connection)
    {
        if (!_connections.TryAdd(connection.LocalId, connection))
        {
            throw new InvalidOperationException("A connection id in use.");
        }

        MarkReady(connection);
    }

    /// <summary>An incoming handshake was opened or refused: it is no longer pending.</summary>
    public void Settle(RudpIncoming incoming) => _pendingIncoming.TryRemove(incoming.ServerId, out _);

    /// <summary>Queues a datagram that belongs to no connection (a Retry, a refusal), sent by the send thread.</summary>
    public void SendStateless(byte[] datagram, SocketAddress to)
    {
        if (Interlocked.Increment(ref _statelessQueued) > MaxStatelessQueued)
        {
            Interlocked.Decrement(ref _statelessQueued);
            Interlocked.Increment(ref Counters.StatelessDropped);
            return;
        }

        _stateless.Enqueue((datagram, to));
        _wake.Set();
    }

    /// <summary>
    /// Queues a datagram that leaves with at most <paramref name="ttl"/> hops (NAT traversal's
    /// opening datagrams: docs/nat.md, "Hole punching"), sent by the send thread, which alone sends
    /// on the socket, so nothing else leaves with the lowered TTL. Dropped when the queue is full.
    /// </summary>
    public void SendWithTtl(byte[] datagram, IPEndPoint to, int ttl)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ttl, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ttl, 255);
        if (Interlocked.Increment(ref _statelessQueued) > MaxStatelessQueued)
        {
            Interlocked.Decrement(ref _statelessQueued);
            Interlocked.Increment(ref Counters.StatelessDropped);
            return;
        }

        _limitedTtl.Enqueue((datagram, Normalize(to).Serialize(), ttl));
        _wake.Set();
    }

    /// <summary>Queues a datagram to <paramref name="to"/> that belongs to no connection (STUN from the NAT layer).</summary>
    public void SendDatagram(byte[] datagram, IPEndPoint to) => SendStateless(datagram, Normalize(to).Serialize());

    /// <summary>
    /// Says how a connection with <paramref name="remote"/> reaches it (a punched hole, a relay),
    /// for connections opened or accepted from now on; the NAT layer tells, the transport only reports it.
    /// </summary>
    public void ExpectPath(IPEndPoint remote, PathType type) => _expectedPaths[Normalize(remote)] = type;

    /// <summary>The path a connection with <paramref name="remote"/> runs on: what <see cref="ExpectPath"/> said, else direct.</summary>
    public PathType PathTo(EndPoint? remote) =>
        remote is IPEndPoint ip && _expectedPaths.TryGetValue(Normalize(ip), out var type) ? type : PathType.Direct;

    /// <summary>An address in the socket's family (IPv4 as IPv4-mapped IPv6 on an IPv6 socket, and back).</summary>
    private IPEndPoint Normalize(IPEndPoint address)
    {
        bool v6 = _socket.LocalEndPoint.AddressFamily == AddressFamily.InterNetworkV6;
        var ip = address.Address;
        if (v6 && ip.AddressFamily == AddressFamily.InterNetwork)
        {
            ip = ip.MapToIPv6();
        }
        else if (!v6 && ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        return new IPEndPoint(ip, address.Port);
    }

    /// <summary>Asks the send thread to look at <paramref name="connection"/> now.</summary>
    public void MarkReady(RudpConnection connection)
    {
        if (Interlocked.Exchange(ref connection.ReadyQueued, 1) == 0)
        {
            _ready.Enqueue(connection);
            _wake.Set();
        }
    }

    // ---------------------------------------------------------------- receive

    private void ReceiveLoop()
    {
        var batch = new DatagramBatch(_socket.Mode == "portable" ? 1 : ReceiveBatch, _socket.LocalEndPoint.AddressFamily);
        var touched = new List<RudpConnection>();
        while (!_stopping)
        {
            int count;
            try
            {
                count = _socket.Receive(batch);
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException)
            {
                continue;
            }

            long now = RudpSettings.Now();
            for (int i = 0; i < count; i++)
            {
                batch.ForEachDatagram(i, (this, now, touched), static (state, datagram, from) => state.Item1.OnDatagram(datagram, from, state.now, state.touched));
            }

            foreach (var connection in touched)
            {
                connection.Touched = false;
                connection.AfterReceive();
                MarkReady(connection);
            }

            touched.Clear();
        }
    }

    /// <summary>
    /// Answers datagrams of another protocol sharing the port: those whose first byte has neither
    /// of the top two bits set, which no rudp packet has (its fixed bit is 0x40) and every STUN
    /// message has (RFC 7983). Null: such datagrams are dropped as malformed.
    /// </summary>
    public DatagramResponder? Responder { get; set; }

    private void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress from, long now, List<RudpConnection> touched)
    {
        Interlocked.Increment(ref Counters.DatagramsIn);
        if (datagram.Length > 0 && (datagram[0] & 0xC0) == 0 && Responder is { } responder)
        {
            var address = RudpConnectionCore.CopyOf(from);
            if (!responder(datagram, ToEndPoint(address), out byte[]? answer))
            {
                Interlocked.Increment(ref Counters.Malformed);
            }
            else if (answer is not null)
            {
                Interlocked.Increment(ref Counters.Answered);
                SendStateless(answer, address);
            }

            return;
        }
        if (!PacketHeader.TryRead(datagram, out var header, out _))
        {
            Interlocked.Increment(ref Counters.Malformed);
            return;
        }

        if (header.Type == PacketType.Short)
        {
            if (_connections.TryGetValue(header.Destination, out var connection))
            {
                connection.OnPacket(datagram, header, from, now);
                Touch(connection, touched);
            }
            else if (_pendingIncoming.TryGetValue(header.Destination, out var pending))
            {
                pending.Hold(datagram, from); // the client's first packets, while the node decides
            }
            else
            {
                Interlocked.Increment(ref Counters.UnknownConnection);
            }

            return;
        }

        if (header.Version != PacketHeader.Version1 && header.Type != PacketType.VersionNegotiation)
        {
            AnswerUnknownVersion(datagram, header, from, now);
            return;
        }

        switch (header.Type)
        {
            case PacketType.Initial:
                OnInitial(datagram, header, from, now, touched);
                break;
            case PacketType.Retry:
            case PacketType.Accept:
            case PacketType.VersionNegotiation:
                if (_connections.TryGetValue(header.Destination, out var client))
                {
                    client.OnHandshakePacket(datagram, header, from, now);
                    Touch(client, touched);
                }
                else
                {
                    Interlocked.Increment(ref Counters.UnknownConnection);
                }

                break;
        }
    }

    private static void Touch(RudpConnection connection, List<RudpConnection> touched)
    {
        if (!connection.Touched)
        {
            connection.Touched = true;
            touched.Add(connection);
        }
    }

    private void OnInitial(ReadOnlySpan<byte> datagram, PacketHeader header, SocketAddress from, long now, List<RudpConnection> touched)
    {
        if (_cookie is null || datagram.Length < PacketHeader.MinInitialDatagram)
        {
            Interlocked.Increment(ref Counters.Malformed); // a client's socket takes no Initials; a short one may be an amplification attempt
            return;
        }

        var rest = datagram[header.Length..];
        if (!Varint.TryRead(rest, out ulong tokenLength, out int size) || tokenLength > PacketHeader.MaxTokenLength || (ulong)(rest.Length - size) < tokenLength)
        {
            Interlocked.Increment(ref Counters.Malformed);
            return;
        }

        var token = rest.Slice(size, (int)tokenLength);
        var parametersBytes = rest[(size + (int)tokenLength)..];
        if (token.IsEmpty)
        {
            // No state for an address not yet proven: a Retry with a cookie, smaller than the Initial.
            var serverId = ConnectionId.NewRandom();
            var client = ToEndPoint(from);
            var retry = new byte[PacketHeader.LongHeaderLength + RetryCookie.TokenSize];
            PacketHeader.WriteLong(retry, PacketType.Retry, PacketHeader.Version1, header.Source, serverId);
            _cookie.Issue(client, header.Source, serverId).CopyTo(retry.AsSpan(PacketHeader.LongHeaderLength));
            Interlocked.Increment(ref Counters.RetriesSent);
            SendStateless(retry, RudpConnectionCore.CopyOf(from));
            return;
        }

        if (_connections.TryGetValue(header.Destination, out var existing))
        {
            existing.OnRepeatedInitial(now); // our Accept was lost
            Touch(existing, touched);
            return;
        }

        var address = ToEndPoint(from);
        if (!_cookie.Validate(token, address, header.Source, header.Destination))
        {
            Interlocked.Increment(ref Counters.BadTokens);
            return;
        }

        if (RudpParameters.TryRead(parametersBytes, out _) is not { } parameters)
        {
            Interlocked.Increment(ref Counters.Malformed);
            return;
        }

        if (_pendingIncoming.TryGetValue(header.Destination, out var waiting))
        {
            waiting.SendAccept(now); // a repeat while the node decides: the Accept was lost
            return;
        }

        var incoming = new RudpIncoming(this, header.Destination, header.Source, RudpConnectionCore.CopyOf(from), address, parameters);
        if (!_pendingIncoming.TryAdd(header.Destination, incoming))
        {
            return;
        }

        if (!_incoming!.Writer.TryWrite(incoming))
        {
            _pendingIncoming.TryRemove(header.Destination, out _);
            Interlocked.Increment(ref Counters.AcceptQueueFull);
            return;
        }

        // The handshake completes now, as a TCP connect completes before the application accepts:
        // the Accept follows from the Initial alone; the node then opens the connection or refuses it.
        incoming.SendAccept(now);
    }

    private void AnswerUnknownVersion(ReadOnlySpan<byte> datagram, PacketHeader header, SocketAddress from, long now)
    {
        Interlocked.Increment(ref Counters.UnknownVersion);

        // Only to an Initial-sized datagram (never amplifying), at most once a second.
        if (header.Type != PacketType.Initial || datagram.Length < PacketHeader.MinInitialDatagram || now - Interlocked.Read(ref _lastVersionNegotiation) < 1_000_000)
        {
            return;
        }

        Interlocked.Exchange(ref _lastVersionNegotiation, now);
        var answer = new byte[PacketHeader.LongHeaderLength + 4];
        PacketHeader.WriteLong(answer, PacketType.VersionNegotiation, 0, header.Source, header.Destination);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(answer.AsSpan(PacketHeader.LongHeaderLength), PacketHeader.Version1);
        SendStateless(answer, RudpConnectionCore.CopyOf(from));
    }

    private IPEndPoint ToEndPoint(SocketAddress address)
    {
        var endPoint = (IPEndPoint)(_socket.LocalEndPoint.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0)).Create(address);
        return endPoint;
    }

    // ---------------------------------------------------------------- send

    private void SendLoop()
    {
        var queue = new SendQueue(_socket);
        var due = new List<RudpConnection>();
        while (!_stopping)
        {
            long now = RudpSettings.Now();
            lock (_scheduleGate)
            {
                while (_timers.TryPeek(out var connection, out long at) && at <= now)
                {
                    _timers.Dequeue();
                    if (connection.ScheduledAt == at)
                    {
                        connection.ScheduledAt = long.MaxValue;
                        due.Add(connection);
                    }
                }
            }

            while (_ready.TryDequeue(out var connection))
            {
                Volatile.Write(ref connection.ReadyQueued, 0);
                due.Add(connection);
            }

            try
            {
                while (_stateless.TryDequeue(out var item))
                {
                    Interlocked.Decrement(ref _statelessQueued);
                    item.Datagram.CopyTo(queue.Reserve(item.Datagram.Length));
                    queue.Commit(item.To, item.Datagram.Length);
                }

                if (!_limitedTtl.IsEmpty)
                {
                    queue.Flush(); // what was queued leaves with the normal TTL first
                    while (_limitedTtl.TryDequeue(out var limited))
                    {
                        Interlocked.Decrement(ref _statelessQueued);
                        _socket.SendWithTtl(limited.Datagram, limited.To, limited.Ttl);
                    }
                }

                bool busy = false;
                foreach (var connection in due)
                {
                    if (connection.Driving)
                    {
                        continue; // listed twice (ready and due)
                    }

                    connection.Driving = true;
                    long next = connection.Drive(now, queue);
                    connection.Driving = false;
                    if (connection.IsFinished)
                    {
                        Remove(connection);
                        continue;
                    }

                    busy |= next <= now;
                    Schedule(connection, next);
                }

                due.Clear();
                queue.Flush();
                Volatile.Write(ref Counters.DatagramsOut, queue.Datagrams);
                Volatile.Write(ref Counters.SendDrops, _socket.SendDrops);
                if (busy)
                {
                    continue;
                }
            }
            catch (ObjectDisposedException)
            {
                break;
            }

            long wait;
            lock (_scheduleGate)
            {
                wait = _timers.TryPeek(out _, out long at) ? at - RudpSettings.Now() : 1_000_000;
            }

            if (wait > 0)
            {
                _wake.WaitOne(TimeSpan.FromMicroseconds(Math.Clamp(wait, 1_000, 1_000_000)));
            }
        }
    }

    private void Schedule(RudpConnection connection, long at)
    {
        if (at == long.MaxValue)
        {
            return;
        }

        lock (_scheduleGate)
        {
            if (connection.ScheduledAt > at)
            {
                connection.ScheduledAt = at;
                _timers.Enqueue(connection, at);
            }
        }
    }

    private void Remove(RudpConnection connection)
    {
        _connections.TryRemove(connection.LocalId, out _);
        connection.OnRemoved();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Connections the application closed still deliver what they were given, as a TCP socket
        // closed before its process exits still sends what its buffer holds: the socket stays up
        // until they are done (at most the linger time, and 3 s), then everything left is aborted.
        _incoming?.Writer.TryComplete();
        var lingerUntil = DateTime.UtcNow + TimeSpan.FromTicks(Math.Min(Settings.LingerTimeout.Ticks, TimeSpan.FromSeconds(3).Ticks));
        while (Thread.CurrentThread != _sender && Thread.CurrentThread != _receiver && DateTime.UtcNow < lingerUntil && _connections.Values.Any(c => c.IsLingering))
        {
            Thread.Sleep(5);
        }

        _stopping = true;
        _wake.Set();
        if (Thread.CurrentThread != _sender)
        {
            _sender.Join(TimeSpan.FromSeconds(2));
        }

        // Every peer is told at once (CONNECTION_CLOSE), as a closing TCP socket sends its FIN or
        // RST, rather than left to find out by its idle timeout. The send thread has stopped, so
        // this thread may send.
        var queue = new SendQueue(_socket, 64 * 1024);
        foreach (var connection in _connections.Values)
        {
            try
            {
                connection.OnEndpointStopped(queue);
            }
            catch (ObjectDisposedException)
            {
            }
        }

        try
        {
            queue.Flush();
        }
        catch (ObjectDisposedException)
        {
        }

        _socket.Dispose();
        if (Thread.CurrentThread != _receiver)
        {
            _receiver.Join(TimeSpan.FromSeconds(2));
        }

        _connections.Clear();
    }
}

/// <summary>What an endpoint counted: datagrams in and out, and those dropped, by why.</summary>
internal sealed class EndpointCounters
{
    public long DatagramsIn;
    public long DatagramsOut;
    public long Malformed;

    /// <summary>Datagrams of another protocol answered on the port (STUN Binding requests).</summary>
    public long Answered;
    public long UnknownConnection;
    public long UnknownVersion;
    public long BadTokens;
    public long RetriesSent;
    public long AcceptQueueFull;
    public long StatelessDropped;
    public long SendDrops;
}

/// <summary>
/// Takes a datagram of another protocol that shares a rudp port (<see cref="RudpEndpoint.Responder"/>):
/// false when it is not one (counted as malformed); else true, with the answer to send back, or null for none.
/// </summary>
internal delegate bool DatagramResponder(ReadOnlySpan<byte> datagram, IPEndPoint from, out byte[]? answer);
