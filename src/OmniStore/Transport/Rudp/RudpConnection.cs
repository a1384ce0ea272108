using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using OmniStore.Internal;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Transport.Rudp;

/// <summary>
/// A rudp connection as the protocol sees it (docs/rudp.md): the same duplex pipe as over TCP. Two
/// pumps move bytes between the pipes and the connection's stream buffers; the socket's receive
/// thread and send thread drive the protocol (<see cref="RudpConnectionCore"/>, under this
/// connection's lock).
/// </summary>
internal sealed class RudpConnection : TransportConnection, ITransportStatistics, ISendProgress
{
    private const int PerTurnBytes = 256 * 1024;

    private readonly RudpEndpoint _endpoint;
    private readonly bool _ownsEndpoint;
    private readonly RudpConnectionCore _core;
    private readonly Lock _gate = new();
    private readonly Pipe _input = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: 16 * 1024, useSynchronizationContext: false));
    private readonly Pipe _output = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: 16 * 1024, useSynchronizationContext: false));
    private readonly ReleaseSignal _readable = new();
    private readonly ReleaseSignal _writable = new();
    private readonly TaskCompletionSource _established = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _closed = new();
    private readonly LinkCounters _counters;
    private Task? _readPump;
    private Task? _writePump;
    private int _disposed;

    // The send thread's bookkeeping (RudpEndpoint).
    internal long ScheduledAt = long.MaxValue;
    internal int ReadyQueued;
    internal bool Touched;
    internal bool Driving;

    private RudpConnection(RudpEndpoint endpoint, bool ownsEndpoint, RudpConnectionCore core, LinkCounters counters, EndPoint? remote)
    {
        _endpoint = endpoint;
        _ownsEndpoint = ownsEndpoint;
        _core = core;
        _counters = counters;
        _remote = remote as IPEndPoint;
        _remoteAddress = core.Peer;
        LocalEndPoint = endpoint.LocalEndPoint;
    }

    public override PipeReader Input => _input.Reader;

    public override PipeWriter Output => _output.Writer;

    public override EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's address now: it changes when the peer's NAT rebinds or the connection moves to a better path.</summary>
    public override EndPoint? RemoteEndPoint
    {
        get
        {
            lock (_gate)
            {
                if (!ReferenceEquals(_remoteAddress, _core.Peer) && _remote is not null)
                {
                    _remoteAddress = _core.Peer;
                    _remote = (IPEndPoint)_remote.Create(_remoteAddress);
                }

                return _remote;
            }
        }
    }

    private IPEndPoint? _remote;
    private SocketAddress _remoteAddress;

    public override LinkCounters Counters => _counters;

    public override CancellationToken Closed => _closed.Token;

    /// <summary>The path to where the peer is now (<see cref="RudpEndpoint.PathTo"/>): NAT traversal says which addresses are punched holes or relays.</summary>
    public override LinkPath Path => new("rudp", _endpoint.PathTo(RemoteEndPoint));

    /// <summary>
    /// Sends from now on to <paramref name="address"/>, a path NAT traversal proved (a hole punched
    /// after the connection began on a relay); the peer moves too once the new address answers its
    /// path challenge (docs/rudp.md, "Paths").
    /// </summary>
    internal void MoveTo(IPEndPoint address)
    {
        if (_endpoint.LocalEndPoint.AddressFamily == AddressFamily.InterNetworkV6 && address.AddressFamily == AddressFamily.InterNetwork)
        {
            address = new IPEndPoint(address.Address.MapToIPv6(), address.Port);
        }

        lock (_gate)
        {
            _core.MoveTo(address.Serialize());
        }

        _endpoint.MarkReady(this);
    }

    internal ConnectionId LocalId => _core.LocalId;

    /// <summary>Bytes allocated for the stream's buffers now (not the pipes').</summary>
    internal long BufferBytes
    {
        get
        {
            lock (_gate)
            {
                return _core.BufferBytes;
            }
        }
    }

    /// <summary>Whether it was closed and still sends the rest of its stream.</summary>
    internal bool IsLingering
    {
        get
        {
            lock (_gate)
            {
                return _core.IsLingering;
            }
        }
    }

    /// <summary>How often the path's MTU seemed to shrink and the datagrams went back to the base size.</summary>
    internal int BlackHoles
    {
        get
        {
            lock (_gate)
            {
                return _core.BlackHoles;
            }
        }
    }

    /// <summary>How often the peer moved to a new, validated address.</summary>
    internal int PathChanges
    {
        get
        {
            lock (_gate)
            {
                return _core.PathChanges;
            }
        }
    }

    /// <summary>Whether the send thread may forget it: closed, and its last packet sent.</summary>
    internal bool IsFinished { get; private set; }

    /// <summary>What the connection's path looks like now, for status.</summary>
    public TransportStatistics Statistics
    {
        get
        {
            lock (_gate)
            {
                return new TransportStatistics(
                    _core.Rtt.Smoothed / 1000.0, _core.Rtt.Min / 1000.0, _core.Congestion.State, _core.Congestion.CongestionWindow, _core.Congestion.PacingRate,
                    _core.BytesInFlight, _core.PacketsSent, _core.PacketsLost, _core.BytesRetransmitted, _core.MaxDatagram, _core.ReceiveWindow, _endpoint.SocketMode);
            }
        }
    }

    /// <summary>Stream bytes the peer acknowledged: what the send watchdog counts as progress.</summary>
    public long? BytesAcknowledged
    {
        get
        {
            lock (_gate)
            {
                return _core.BytesAcknowledged;
            }
        }
    }

    /// <summary>Statistics for status and send progress; no gathered sends or direct receives (the stream goes through the connection's buffers).</summary>
    public override TFeature? GetFeature<TFeature>()
        where TFeature : class => this as TFeature is { } feature && feature is ITransportStatistics or ISendProgress ? feature : null;

    /// <summary>Dials <paramref name="server"/> from a socket of its own; throws <see cref="OmniStoreException"/> (Unavailable) when no rudp server answers.</summary>
    public static Task<RudpConnection> ConnectAsync(IPEndPoint server, LinkCounters counters, RudpSettings settings, CancellationToken cancellationToken) =>
        ConnectAsync(RudpEndpoint.ForClient(server.AddressFamily, settings), ownsEndpoint: true, server, counters, cancellationToken);

    /// <summary>
    /// Opens a connection to <paramref name="server"/> from <paramref name="endpoint"/>'s socket,
    /// which it shares (NAT traversal: the socket whose mapping the peer knows). The endpoint is
    /// disposed with the connection only when <paramref name="ownsEndpoint"/>.
    /// </summary>
    internal static async Task<RudpConnection> ConnectAsync(RudpEndpoint endpoint, bool ownsEndpoint, IPEndPoint server, LinkCounters counters, CancellationToken cancellationToken)
    {
        if (endpoint.LocalEndPoint.AddressFamily == AddressFamily.InterNetworkV6 && server.AddressFamily == AddressFamily.InterNetwork)
        {
            server = new IPEndPoint(server.Address.MapToIPv6(), server.Port);
        }

        var core = RudpConnectionCore.ForClient(endpoint.Settings, server.Serialize(), RudpSettings.Now(), endpoint.WindowBudget);
        var connection = new RudpConnection(endpoint, ownsEndpoint, core, counters, server);
        endpoint.Add(connection);
        try
        {
            await connection._established.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        connection.StartPumps();
        return connection;
    }

    /// <summary>A server's side of an admitted handshake.</summary>
    internal static RudpConnection Accept(RudpEndpoint endpoint, RudpIncoming incoming, LinkCounters counters, List<(byte[] Datagram, SocketAddress From)> held)
    {
        var core = RudpConnectionCore.ForServer(endpoint.Settings, incoming.ServerId, incoming.ClientId, incoming.Address, incoming.Parameters, RudpSettings.Now(), endpoint.WindowBudget);
        var connection = new RudpConnection(endpoint, ownsEndpoint: false, core, counters, incoming.RemoteEndPoint);
        connection.StartPumps();
        foreach (var (datagram, from) in held)
        {
            if (Internal.PacketHeader.TryRead(datagram, out var header, out _))
            {
                connection.OnPacket(datagram, header, from, RudpSettings.Now());
            }
        }

        connection.AfterReceive();
        endpoint.Add(connection);
        return connection;
    }

    private void StartPumps()
    {
        _readPump = Task.Run(ReadPumpAsync);
        _writePump = Task.Run(WritePumpAsync);
    }

    // ---------------------------------------------------------------- the receive thread

    internal void OnPacket(ReadOnlySpan<byte> datagram, Internal.PacketHeader header, SocketAddress from, long now)
    {
        _counters.AddWireIn(datagram.Length);
        lock (_gate)
        {
            _core.OnPacket(datagram, header, from, now);
        }
    }

    internal void OnHandshakePacket(ReadOnlySpan<byte> datagram, Internal.PacketHeader header, SocketAddress from, long now)
    {
        _counters.AddWireIn(datagram.Length);
        var payload = datagram[header.Length..];
        lock (_gate)
        {
            switch (header.Type)
            {
                case PacketType.Retry:
                    _core.OnRetry(header, payload, from, now);
                    break;
                case PacketType.Accept:
                    _core.OnAccept(header, payload, from, now);
                    break;
                case PacketType.VersionNegotiation:
                    _core.OnVersionNegotiation(payload, from);
                    break;
            }
        }
    }

    internal void OnRepeatedInitial(long now)
    {
        lock (_gate)
        {
            _core.OnRepeatedInitial(now);
        }
    }

    /// <summary>After a batch of datagrams: wakes the pumps for what they brought.</summary>
    internal void AfterReceive()
    {
        CoreEvents events;
        lock (_gate)
        {
            events = _core.TakeEvents();
        }

        Signal(events);
    }

    // ---------------------------------------------------------------- the send thread

    /// <summary>Runs timers and sends what is due (at most a turn's worth); returns when to come back.</summary>
    internal long Drive(long now, SendQueue queue)
    {
        CoreEvents events;
        long next;
        lock (_gate)
        {
            _core.OnTimers(now);
            int sent = 0;
            while (sent < PerTurnBytes)
            {
                var span = queue.Reserve(Math.Max(_core.MaxDatagram, _endpoint.Settings.MaxProbedDatagram));
                int size = _core.Build(span, now, out var to);
                if (size == 0)
                {
                    break;
                }

                _counters.AddWireOut(size);
                queue.Commit(to, size);
                sent += size;
            }

            next = sent >= PerTurnBytes ? now : _core.NextWake(now);
            events = _core.TakeEvents();
            IsFinished = _core.IsClosed;
        }

        Signal(events);
        return next;
    }

    internal void OnRemoved()
    {
        _finished.TrySetResult();
        if (_ownsEndpoint)
        {
            // Not on the send thread, which is the one removing it.
            _ = Task.Run(_endpoint.Dispose);
        }
    }

    /// <summary>The socket is closing: the peer is told (the close packet goes into <paramref name="queue"/>) and the connection ends.</summary>
    internal void OnEndpointStopped(SendQueue queue)
    {
        lock (_gate)
        {
            _core.Abort(RudpConnectionCore.Aborted, "the node closed its socket", new IOException("The rudp socket was closed."));
            var span = queue.Reserve(Math.Max(_core.MaxDatagram, _endpoint.Settings.BaseDatagram));
            int size = _core.Build(span, RudpSettings.Now(), out var to);
            if (size > 0)
            {
                queue.Commit(to, size);
            }
        }

        Signal(CoreEvents.Closed | CoreEvents.Readable | CoreEvents.Writable);
        _finished.TrySetResult();
    }

    private void Signal(CoreEvents events)
    {
        if (events == CoreEvents.None)
        {
            return;
        }

        if ((events & CoreEvents.Established) != 0)
        {
            _established.TrySetResult();
        }

        if ((events & CoreEvents.Readable) != 0)
        {
            _readable.Pulse();
        }

        if ((events & CoreEvents.Writable) != 0)
        {
            _writable.Pulse();
        }

        if ((events & CoreEvents.Closed) != 0)
        {
            Exception? failure;
            lock (_gate)
            {
                failure = _core.Failure;
            }

            MarkClosed();
            if (!_established.Task.IsCompleted)
            {
                _established.TrySetException(failure is OmniStoreException ? failure : new OmniStoreException(OmniStoreError.Unavailable, failure?.Message ?? "The rudp handshake ended.", failure));
            }
        }
    }

    // ---------------------------------------------------------------- the pumps

    /// <summary>Stream bytes from the connection into the input pipe, as the application reads.</summary>
    private async Task ReadPumpAsync()
    {
        var writer = _input.Writer;
        Exception? failure = null;
        try
        {
            while (Volatile.Read(ref _disposed) == 0)
            {
                var wake = _readable.Next;
                int read;
                bool finished, closed;
                var memory = writer.GetMemory(64 * 1024);
                lock (_gate)
                {
                    read = _core.Read(memory.Span, RudpSettings.Now());
                    finished = _core.ReadFinished;
                    closed = _core.IsClosed;
                    failure = _core.Failure;
                }

                if (read > 0)
                {
                    writer.Advance(read);
                    _endpoint.MarkReady(this); // a window update may be due
                    var flush = await writer.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        return; // the application stopped reading
                    }

                    continue;
                }

                if (finished)
                {
                    failure = null;
                    return;
                }

                if (closed)
                {
                    failure ??= new IOException("The rudp connection closed before the peer ended its stream.");
                    return;
                }

                await wake.ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            await writer.CompleteAsync(failure).ConfigureAwait(false);
            MarkClosed(); // as a TCP read of 0 bytes: nothing more comes

        }
    }

    /// <summary>Bytes the application wrote, into the connection's send buffer as it has room.</summary>
    private async Task WritePumpAsync()
    {
        var reader = _output.Reader;
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var rest = result.Buffer;
                while (!rest.IsEmpty)
                {
                    // As much as the send buffer takes, every segment under one lock and one wake of
                    // the send thread (a lock and a wake per 16 KiB segment cost more than the copy).
                    var wake = _writable.Next;
                    long taken = 0;
                    lock (_gate)
                    {
                        foreach (var segment in rest)
                        {
                            int n = _core.Write(segment.Span);
                            taken += n;
                            if (n < segment.Length)
                            {
                                break;
                            }
                        }
                    }

                    if (taken > 0)
                    {
                        rest = rest.Slice(taken);
                        _endpoint.MarkReady(this);
                    }
                    else
                    {
                        await wake.ConfigureAwait(false);
                    }
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    lock (_gate)
                    {
                        _core.CloseStream();
                    }

                    _endpoint.MarkReady(this);
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            await reader.CompleteAsync(failure).ConfigureAwait(false);
        }
    }

    private void MarkClosed()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public override async ValueTask CloseOutputAsync()
    {
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // What was written goes first (as a TCP close sends what its buffer holds): the output
        // pipe is completed and drained into the stream, which then lingers until acknowledged.
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        if (_writePump is { } writePump)
        {
            await writePump.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        lock (_gate)
        {
            _core.Shutdown(RudpSettings.Now());
        }

        _endpoint.MarkReady(this);
        MarkClosed();
        _readable.Pulse();
        _writable.Pulse();
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        if (_readPump is { } readPump)
        {
            await readPump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_ownsEndpoint && !_established.Task.IsCompletedSuccessfully)
        {
            _endpoint.Dispose(); // never connected: nothing to linger for
        }
    }
}
