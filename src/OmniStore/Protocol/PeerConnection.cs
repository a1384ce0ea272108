using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Transport;

namespace OmniStore.Protocol;

/// <summary>
/// One protocol connection over a duplex byte pipe: the handshake, then requests multiplexed in
/// both directions, each message split into frames of at most 256 KiB that interleave with other
/// streams. It knows frames, not sockets: the transport hands it an <see cref="IDuplexPipe"/>.
/// </summary>
/// <remarks>
/// Backpressure: a frame is written under the write lock and flushed before the next, so a slow
/// peer (a full socket) stalls the senders instead of growing buffers. A requester limits itself
/// to <see cref="ProtocolLimits.MaxConcurrentRequests"/> requests in flight.
/// </remarks>
internal sealed partial class PeerConnection : IAsyncDisposable
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly IDuplexPipe _pipe;
    private readonly IAsyncDisposable _transport;
    private readonly bool _isOpener;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;
    private OmniStoreException? _closeReason;
    private Task? _readLoop;
    private TimeSpan _disposeTimeout = TimeSpan.FromSeconds(5);
    private readonly ITransportStatistics? _statistics;

    private PeerConnection(IDuplexPipe pipe, IAsyncDisposable transport, bool isOpener, HandshakeOutcome handshake, IRequestHandler? handler, LinkCounters counters, ConnectionLimits limits, ILogger logger)
    {
        _limits = limits;
        _pipe = pipe;
        // Features are asked of the transport by type; a bare pipe (tests, the fuzzer) has none.
        _gatheringSender = (pipe as TransportConnection)?.GetFeature<IGatheringSender>();
        _directReceiver = (pipe as TransportConnection)?.GetFeature<IDirectReceiver>();
        _statistics = (pipe as TransportConnection)?.GetFeature<ITransportStatistics>();
        _transport = transport;
        _isOpener = isOpener;
        _handler = handler;
        _logger = logger;
        Remote = handshake.Remote;
        Version = handshake.Version;
        PeerSide = handshake.PeerSide;
        Counters = counters;
        _nextStream = isOpener ? 1u : 2u;
        if (limits.MayBeShed)
        {
            limits.Budget?.Register(this);
        }
    }

    /// <summary>What the peer said about itself.</summary>
    public HelloMessage Remote { get; }

    /// <summary>The negotiated protocol version.</summary>
    public ushort Version { get; }

    /// <summary>The transport's own view of the link (rudp: congestion window, losses, path MTU), or null when it has none (tcp).</summary>
    public TransportStatistics? TransportStatistics => _statistics?.Statistics;

    /// <summary>Byte counters of this link.</summary>
    public LinkCounters Counters { get; }

    /// <summary>Completes when the connection has closed, for whatever reason.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Whether the peer said it is going away: finish what is in flight, start nothing new here.</summary>
    public bool GoingAway { get; private set; }

    /// <summary>Whether the connection is still open.</summary>
    public bool IsOpen => !_closed.IsCancellationRequested;

    /// <summary>Cancelled when the connection closes.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>
    /// How long <see cref="DisposeAsync"/> waits for the read loop and the running request handlers
    /// to finish. Past it, the connection is disposed with the handlers still running (logged): they
    /// see their token cancelled and the connection closed, their answers are dropped, and they
    /// release what they hold when they return. Defaults to 5 seconds.
    /// </summary>
    public TimeSpan DisposeTimeout
    {
        get => _disposeTimeout;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, TimeSpan.FromDays(1));
            _disposeTimeout = value;
        }
    }

    /// <summary>
    /// Runs the handshake over <paramref name="pipe"/> and starts the connection. The opener is the
    /// side that connected; which end is the parent the handshake settles (<see cref="PeerSide"/>). Throws <see cref="OmniStoreException"/> (<see cref="OmniStoreError.Unauthorized"/>,
    /// <see cref="OmniStoreError.ProtocolError"/>, <see cref="OmniStoreError.Unavailable"/>) and disposes the transport on failure.
    /// </summary>
    public static Task<PeerConnection> StartAsync(
        IDuplexPipe pipe,
        IAsyncDisposable transport,
        bool isOpener,
        ConnectionIdentity local,
        IRequestHandler? handler,
        LinkCounters counters,
        ILogger? logger,
        CancellationToken cancellationToken) =>
        StartAsync(pipe, transport, isOpener, local, handler, counters, ConnectionLimits.Default, logger, cancellationToken);

    /// <inheritdoc cref="StartAsync(IDuplexPipe, IAsyncDisposable, bool, ConnectionIdentity, IRequestHandler?, LinkCounters, ILogger?, CancellationToken)"/>
    public static async Task<PeerConnection> StartAsync(
        IDuplexPipe pipe,
        IAsyncDisposable transport,
        bool isOpener,
        ConnectionIdentity local,
        IRequestHandler? handler,
        LinkCounters counters,
        ConnectionLimits limits,
        ILogger? logger,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(HandshakeTimeout);
        try
        {
            var handshake = isOpener
                ? await OpenerHandshakeAsync(pipe, local, timeout.Token).ConfigureAwait(false)
                : await AcceptorHandshakeAsync(pipe, local, timeout.Token).ConfigureAwait(false);
            var connection = new PeerConnection(pipe, transport, isOpener, handshake, handler, counters, limits, logger ?? NullLogger.Instance);
            connection._readLoop = connection.ReadLoopAsync();
            _ = connection.WatchSendsAsync();
            return connection;
        }
        catch (Exception ex)
        {
            await transport.DisposeAsync().ConfigureAwait(false);
            throw ex switch
            {
                OmniStoreException known => known,
                OperationCanceledException when !cancellationToken.IsCancellationRequested =>
                    new OmniStoreException(OmniStoreError.Unavailable, "The peer did not complete the handshake in time."),
                OperationCanceledException => ex,
                _ => new OmniStoreException(OmniStoreError.Unavailable, $"The handshake failed: {ex.Message}", ex),
            };
        }
    }

    /// <summary>Closes the connection: pending requests fail with <paramref name="reason"/>.</summary>
    public void Close(OmniStoreException reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is not null)
        {
            return;
        }

        Volatile.Write(ref _unansweredAtClose, Volatile.Read(ref _incomingRequests)); // before cancelling lets handlers finish
        _closed.Cancel();
        _limits.Budget?.Unregister(this);
        foreach (var (_, waiter) in _pending)
        {
            waiter.Response.TrySetException(reason);

            // As ThrowIfClosed tells callers: a protocol violation of the peer is this end's outage.
            waiter.Streaming?.Fail(new OmniStoreException(reason.Error == OmniStoreError.ProtocolError ? OmniStoreError.Unavailable : reason.Error, reason.Message, reason));
        }

        _pipe.Input.CancelPendingRead();
        _completion.TrySetResult();
    }

    private void ThrowIfClosed()
    {
        if (_closeReason is { } reason)
        {
            throw new OmniStoreException(reason.Error == OmniStoreError.ProtocolError ? OmniStoreError.Unavailable : reason.Error, reason.Message, reason);
        }
    }

    internal string Describe() => $"{Remote.Role.ToString().ToLowerInvariant()} {(Remote.Site.Length > 0 ? Remote.Site + "/" : string.Empty)}{Remote.NodeId.ToShortString()}";

    /// <summary>
    /// Closes the connection and returns once its read loop has ended, its transport is disposed
    /// and its request handlers have finished (cancelled: the connection is closed), or once
    /// <see cref="DisposeTimeout"/> has passed. Called from one of this connection's own handlers,
    /// it does not wait for that handler, which cannot finish before it returns.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Close(new OmniStoreException(OmniStoreError.Unavailable, "The connection was closed."));
        long deadline = Environment.TickCount64 + (long)DisposeTimeout.TotalMilliseconds;

        // The read loop ends once it sees the close (its reads and waits take the closed token); it
        // starts no handler after that, so the handlers counted next are all there will be.
        if (Volatile.Read(ref _readLoop) is { IsCompleted: false } readLoop)
        {
            await readLoop.WaitAsync(Remaining(deadline)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await CloseTransportAsync().ConfigureAwait(false);
        int stillRunning = await WaitForHandlersAsync(deadline).ConfigureAwait(false);
        if (stillRunning > 0)
        {
            ConnectionLog.DisposedWithHandlersRunning(_logger, Describe(), stillRunning, DisposeTimeout.TotalSeconds);
        }
    }

    /// <summary>Closes the connection (if still open) and disposes the transport, once.</summary>
    private async ValueTask CloseTransportAsync()
    {
        if (IsOpen)
        {
            Close(new OmniStoreException(OmniStoreError.Unavailable, "The connection was closed."));
        }

        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
    }

    private static TimeSpan Remaining(long deadline) => TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64));
}
