using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
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

    /// <summary>Frames smaller than this are copied through the pipe: pinning and a buffer list cost more than the copy.</summary>
    private const int MinGatheredFrame = 16 * 1024;
    private readonly IGatheringSender? _gatheringSender;

    /// <summary>Frame payloads from this size on are received straight into their message (see <see cref="IDirectReceiver"/>).</summary>
    private const int MinDirectPayload = 32 * 1024;

    /// <summary>How much of a large payload must have arrived through the pipe first: a chunk message's own header.</summary>
    private const int MinDirectPrefix = 64;
    private readonly IDirectReceiver? _directReceiver;

    /// <summary>
    /// At most this many payload bytes go out in one gathered send, as consecutive frames of one
    /// message, when no small message waits to be sent (see <see cref="SendAsync"/>).
    /// </summary>
    internal const int MaxGatheredBatch = 1024 * 1024;

    // A batch may also take a tail shorter than MinGatheredFrame: one more frame.
    private const int MaxFramesPerBatch = (MaxGatheredBatch / ProtocolLimits.MaxFramePayload) + 1;

    // Used only under the write lock, by one batch of frames at a time.
    private readonly byte[] _gatherHeaders = new byte[ProtocolLimits.HeaderSize * MaxFramesPerBatch];
    private readonly List<ReadOnlyMemory<byte>> _gatherBuffers = new(3 * MaxFramesPerBatch);
    private int _smallWriteWaiters;
    private readonly IAsyncDisposable _transport;
    private readonly bool _isOpener;
    private readonly IRequestHandler? _handler;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly SemaphoreSlim _requestSlots = new(ProtocolLimits.MaxConcurrentRequests, ProtocolLimits.MaxConcurrentRequests);

    // Requests a peer may have served at once. The rest wait holding only their request message, so
    // a peer that asks for many chunks and reads slowly costs this node at most this many chunk
    // buffers; the socket's backpressure does the rest.
    private readonly SemaphoreSlim _handlerSlots = new(ProtocolLimits.MaxConcurrentHandlers, ProtocolLimits.MaxConcurrentHandlers);
    private readonly ConcurrentDictionary<uint, PendingRequest> _pending = new();
    private readonly Dictionary<uint, Message> _assembling = [];
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _incomingRequests;
    private uint _nextStream;
    private int _disposed;
    private OmniStoreException? _closeReason;

    private PeerConnection(IDuplexPipe pipe, IAsyncDisposable transport, bool isOpener, HelloMessage remote, ushort version, IRequestHandler? handler, LinkCounters counters, ConnectionLimits limits, ILogger logger)
    {
        _limits = limits;
        _pipe = pipe;
        _gatheringSender = pipe as IGatheringSender;
        _directReceiver = pipe as IDirectReceiver;
        _transport = transport;
        _isOpener = isOpener;
        _handler = handler;
        _logger = logger;
        Remote = remote;
        Version = version;
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

    /// <summary>Byte counters of this link.</summary>
    public LinkCounters Counters { get; }

    /// <summary>Completes when the connection has closed, for whatever reason.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Whether the peer said it is going away: finish what is in flight, start nothing new here.</summary>
    public bool GoingAway { get; private set; }

    /// <summary>Small messages (requests, short answers, PONGs) waiting to be sent.</summary>
    internal int WaitingSmallSends => Volatile.Read(ref _smallWriteWaiters);

    /// <summary>Requests this end sent that await their response.</summary>
    public int PendingRequests => _pending.Count;

    /// <summary>Tells the peer this end is going away (GOAWAY): it should move its new requests elsewhere.</summary>
    public async Task SendGoAwayAsync()
    {
        try
        {
            await SendAsync(0, FrameType.GoAway, default, default).ConfigureAwait(false);
        }
        catch (OmniStoreException)
        {
            // Already closed: nothing to tell.
        }
    }

    /// <summary>Whether the connection is still open.</summary>
    public bool IsOpen => !_closed.IsCancellationRequested;

    /// <summary>Cancelled when the connection closes.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>
    /// Runs the handshake over <paramref name="pipe"/> and starts the connection. The opener is the
    /// side that connected. Throws <see cref="OmniStoreException"/> (<see cref="OmniStoreError.Unauthorized"/>,
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
            var (remote, version) = isOpener
                ? await OpenerHandshakeAsync(pipe, local, timeout.Token).ConfigureAwait(false)
                : await AcceptorHandshakeAsync(pipe, local, timeout.Token).ConfigureAwait(false);
            var connection = new PeerConnection(pipe, transport, isOpener, remote, version, handler, counters, limits, logger ?? NullLogger.Instance);
            _ = connection.ReadLoopAsync();
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

    /// <summary>
    /// Sends a request and waits for its response. An ERROR response is thrown as
    /// <see cref="OmniStoreException"/>; the caller owns (and disposes) the returned message.
    /// </summary>
    public async Task<Message> RequestAsync(FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        await _requestSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        uint stream = Interlocked.Add(ref _nextStream, 2) - 2;
        var response = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[stream] = new PendingRequest(response, MaxResponseLength(type, head.Span));
        bool consumed = false;
        try
        {
            if (_closed.IsCancellationRequested)
            {
                ThrowIfClosed();
            }

            await SendAsync(stream, type, head, body).ConfigureAwait(false);
            Message message;
            try
            {
                message = await response.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Tell the peer to stop; a response that still arrives is dropped below or by the reader.
                _ = SendAsync(stream, FrameType.Cancel, default, default).AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
                throw;
            }

            consumed = true;
            if (message.Type == FrameType.Error)
            {
                using (message)
                {
                    throw ErrorMessage.Decode(message.Payload);
                }
            }

            return message;
        }
        finally
        {
            _pending.TryRemove(stream, out _);
            if (!consumed && response.Task.IsCompletedSuccessfully)
            {
                response.Task.Result.Dispose();
            }

            _requestSlots.Release();
        }
    }

    /// <summary>Sends a request with a single-part payload.</summary>
    public Task<Message> RequestAsync(FrameType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        RequestAsync(type, payload, default, cancellationToken);

    /// <summary>Answers request <paramref name="stream"/>.</summary>
    public ValueTask RespondAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body = default) =>
        SendAsync(stream, type, head, body);

    /// <summary>Answers request <paramref name="stream"/> with an ERROR.</summary>
    public ValueTask RespondErrorAsync(uint stream, OmniStoreError error, string message) =>
        SendAsync(stream, FrameType.Error, ErrorMessage.Encode(error, message), default);

    /// <summary>
    /// Writes one message as frames of at most <see cref="ProtocolLimits.MaxFramePayload"/> bytes,
    /// taking the write lock per frame so that other streams' frames interleave. While no small
    /// message (one frame or less) waits for the lock, consecutive frames of a large message go out
    /// together in one gathered send of up to <see cref="MaxGatheredBatch"/> bytes: the frames on the
    /// wire are the same, with fewer system calls and wake-ups, and a request or a short answer still
    /// waits for at most one frame. Once the first frame is out the message is always finished (the
    /// peer would otherwise hold a half message).
    /// </summary>
    private async ValueTask SendAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body)
    {
        int total = head.Length + body.Length;
        if (total > ProtocolLimits.MaxMessage)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A message of {total} bytes exceeds the protocol's {ProtocolLimits.MaxMessage}.");
        }

        int offset = 0;
        do
        {
            bool small = total - offset <= ProtocolLimits.MaxFramePayload;
            if (small)
            {
                Interlocked.Increment(ref _smallWriteWaiters);
            }

            try
            {
                await _writeLock.WaitAsync(_closed.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                ThrowIfClosed();
                throw;
            }
            finally
            {
                if (small)
                {
                    Interlocked.Decrement(ref _smallWriteWaiters);
                }
            }

            try
            {
                ThrowIfClosed();
                int sent = 0;
                if (_gatheringSender is not null && total - offset >= MinGatheredFrame)
                {
                    int batch = Volatile.Read(ref _smallWriteWaiters) == 0 ? MaxGatheredBatch : ProtocolLimits.MaxFramePayload;
                    if (total - offset - batch < MinGatheredFrame)
                    {
                        batch = total - offset; // with the small tail (a chunk's own header makes one), not in a send of its own
                    }

                    Volatile.Write(ref _sendSince, DateTime.UtcNow.Ticks);
                    sent = await TrySendGatheredAsync(stream, type, head, body, offset, batch).ConfigureAwait(false);
                }

                if (sent == 0)
                {
                    sent = Math.Min(ProtocolLimits.MaxFramePayload, total - offset);
                    var header = new FrameHeader(type, offset + sent == total ? FrameFlags.End : FrameFlags.None, stream, sent);
                    var span = _pipe.Output.GetSpan(ProtocolLimits.HeaderSize + sent);
                    header.Write(span);
                    CopyRange(head, body, offset, span.Slice(ProtocolLimits.HeaderSize, sent));
                    _pipe.Output.Advance(ProtocolLimits.HeaderSize + sent);
                    Volatile.Write(ref _sendSince, DateTime.UtcNow.Ticks);
                    var flush = await _pipe.Output.FlushAsync(_closed.Token).ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        Close(new OmniStoreException(OmniStoreError.Unavailable, "The connection was closed by the peer."));
                    }
                }

                offset += sent;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
            {
                Close(new OmniStoreException(OmniStoreError.Unavailable, $"Sending to {Describe()} failed: {ex.Message}", ex));
                ThrowIfClosed();
                throw;
            }
            finally
            {
                Volatile.Write(ref _sendSince, 0);
                _writeLock.Release();
            }
        }
        while (offset < total);
        Counters.AddPayloadOut(total);
    }

    /// <summary>
    /// Sends the frames that carry <paramref name="length"/> bytes of the message from
    /// <paramref name="offset"/> on, each header followed by its slices of <paramref name="head"/>
    /// and <paramref name="body"/>, straight from those buffers in one call (see
    /// <see cref="IGatheringSender"/>). Returns the payload bytes sent, or 0 when the transport
    /// cannot send these buffers directly. Called under the write lock, with the pipe flushed: every
    /// frame written through the pipe is flushed before the lock is released.
    /// </summary>
    private async ValueTask<int> TrySendGatheredAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, int offset, int length)
    {
        int total = head.Length + body.Length;
        int end = offset + length;
        _gatherBuffers.Clear();
        for (int frame = 0; offset < end; frame++)
        {
            int frameLength = Math.Min(ProtocolLimits.MaxFramePayload, end - offset);
            var header = _gatherHeaders.AsMemory(frame * ProtocolLimits.HeaderSize, ProtocolLimits.HeaderSize);
            new FrameHeader(type, offset + frameLength == total ? FrameFlags.End : FrameFlags.None, stream, frameLength).Write(header.Span);
            _gatherBuffers.Add(header);
            AddRange(head, body, offset, frameLength);
            offset += frameLength;
        }

        return await _gatheringSender!.TrySendAsync(_gatherBuffers).ConfigureAwait(false) ? length : 0;
    }

    /// <summary>Adds the non-empty slices of the message that <see cref="Slices"/> gives to the gather list.</summary>
    private void AddRange(ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, int offset, int length)
    {
        var (fromHead, fromBody) = Slices(head, body, offset, length);
        if (!fromHead.IsEmpty)
        {
            _gatherBuffers.Add(fromHead);
        }

        if (!fromBody.IsEmpty)
        {
            _gatherBuffers.Add(fromBody);
        }
    }

    private static void CopyRange(ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, int offset, Span<byte> destination)
    {
        var (fromHead, fromBody) = Slices(head, body, offset, destination.Length);
        fromHead.Span.CopyTo(destination);
        fromBody.Span.CopyTo(destination[fromHead.Length..]);
    }

    /// <summary>The parts of <paramref name="head"/> and of <paramref name="body"/> that hold the message's bytes <paramref name="offset"/> to <paramref name="offset"/> + <paramref name="length"/> (the message is head then body).</summary>
    private static (ReadOnlyMemory<byte> FromHead, ReadOnlyMemory<byte> FromBody) Slices(ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, int offset, int length)
    {
        int fromHead = Math.Clamp(head.Length - offset, 0, length);
        var headPart = fromHead > 0 ? head.Slice(offset, fromHead) : ReadOnlyMemory<byte>.Empty;
        return (headPart, body.Slice(Math.Max(0, offset - head.Length), length - fromHead));
    }

    private async Task ReadLoopAsync()
    {
        var input = _pipe.Input;
        StartLiveness();
        try
        {
            while (true)
            {
                await WaitForMemoryAsync().ConfigureAwait(false);
                var result = await input.ReadAsync(_closed.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                bool consumed = false;
                while (true)
                {
                    var status = FrameParser.TryRead(ref buffer, out var header, out var payload, out string? problem);
                    if (status == FrameParseStatus.Frame)
                    {
                        OnFrame(header, payload);
                        OnFrameArrived(header);
                        continue;
                    }

                    if (status == FrameParseStatus.Malformed)
                    {
                        throw new OmniStoreException(OmniStoreError.ProtocolError, $"Malformed frame from {Describe()}: {problem}.");
                    }

                    if (!result.IsCompleted && IsDirectCandidate(buffer, header))
                    {
                        // The buffer ends inside a large payload: what arrived goes into the message,
                        // the rest is received straight into it once the pipe is consumed.
                        await ReceiveRestDirectlyAsync(input, buffer, header).ConfigureAwait(false);
                        OnFrameArrived(header);
                        consumed = true;
                    }

                    break;
                }

                if (consumed)
                {
                    continue;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty || _assembling.Count > 0)
                    {
                        throw new OmniStoreException(OmniStoreError.ProtocolError, $"{Describe()} closed the connection in the middle of a frame.");
                    }

                    Close(new OmniStoreException(OmniStoreError.Unavailable, $"{Describe()} closed the connection."));
                    return;
                }
            }
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.ProtocolError)
        {
            ConnectionLog.ProtocolViolation(_logger, Describe(), ex.Message);
            await TrySendConnectionErrorAsync(ex).ConfigureAwait(false);
            Close(ex);
        }
        catch (Exception ex)
        {
            Close(ex as OmniStoreException ?? new OmniStoreException(OmniStoreError.Unavailable, $"The connection to {Describe()} failed: {ex.Message}", ex));
        }
        finally
        {
            foreach (var message in _assembling.Values)
            {
                Finished(message);
                message.Dispose();
            }

            _assembling.Clear();
            await DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether <paramref name="buffer"/> starts with <paramref name="header"/> (parsed, payload incomplete) of a large request or response frame whose payload has begun to arrive.</summary>
    private bool IsDirectCandidate(in ReadOnlySequence<byte> buffer, FrameHeader header) =>
        _directReceiver is not null
        && header.PayloadLength >= MinDirectPayload
        && header.Stream != 0
        && header.Type != FrameType.Cancel
        && buffer.Length >= ProtocolLimits.HeaderSize + MinDirectPrefix
        && (IsRemoteInitiated(header.Stream) || _pending.ContainsKey(header.Stream)); // a frame to drop goes through the pipe

    /// <summary>
    /// Takes the frame that starts <paramref name="buffer"/> (the whole rest of the buffer, which ends
    /// inside its payload), consumes the pipe, and receives the payload's remainder straight into its message.
    /// </summary>
    private async Task ReceiveRestDirectlyAsync(PipeReader input, ReadOnlySequence<byte> buffer, FrameHeader header)
    {
        var arrived = buffer.Slice(ProtocolLimits.HeaderSize);
        var message = BeginFrame(header, arrived);
        message.Append(arrived);
        int rest = header.PayloadLength - (int)arrived.Length;
        input.AdvanceTo(buffer.End);
        try
        {
            await _directReceiver!.ReceiveExactlyAsync(message.AppendSpace(rest), _closed.Token).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{Describe()} closed the connection in the middle of a frame.");
        }

        message.Advance(rest);
        EndFrame(header, message);
    }

    private void OnFrame(FrameHeader header, ReadOnlySequence<byte> payload)
    {
        if (header.Stream == 0)
        {
            OnConnectionFrame(header, payload);
            return;
        }

        if (header.Type == FrameType.Cancel)
        {
            // A request still arriving is dropped; one being served finishes and its answer is
            // discarded by the peer, which stopped waiting.
            if (IsRemoteInitiated(header.Stream) && _assembling.Remove(header.Stream, out var abandoned))
            {
                Finished(abandoned);
                abandoned.Dispose();
                Interlocked.Decrement(ref _incomingRequests);
            }

            return;
        }

        if (!IsRemoteInitiated(header.Stream) && !_pending.ContainsKey(header.Stream))
        {
            DropResponseFrame(header);
            return;
        }

        var message = BeginFrame(header, payload);
        message.Append(payload);
        EndFrame(header, message);
    }

    /// <summary>
    /// A response frame for no request in flight: dropped as it arrives, without a buffer. Late
    /// frames of a request that was cancelled or failed are expected; a stream this end never used
    /// is a protocol error (a peer cannot make this end hold "responses" it never asked for).
    /// </summary>
    private void DropResponseFrame(FrameHeader header)
    {
        if (header.Stream >= Volatile.Read(ref _nextStream))
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"a {header.Type} frame on stream {header.Stream}, which this end never opened");
        }

        if (_assembling.Remove(header.Stream, out var abandoned))
        {
            Finished(abandoned);
            abandoned.Dispose();
        }
    }

    private bool IsRemoteInitiated(uint stream) => (stream & 1) == (_isOpener ? 0u : 1u);

    /// <summary>
    /// The message a request or response frame (not stream 0, not CANCEL) belongs to, started if it
    /// is the first frame of its stream, after checking the frame may be added to it.
    /// <paramref name="start"/> is the beginning of the frame's payload (for a chunk's declared length).
    /// </summary>
    private Message BeginFrame(FrameHeader header, ReadOnlySequence<byte> start)
    {
        bool request = IsRemoteInitiated(header.Stream);
        _assembling.TryGetValue(header.Stream, out var message);
        int limit = request ? ProtocolLimits.MaxMessage
            : _pending.TryGetValue(header.Stream, out var pending) ? pending.MaxLength
            : (message?.Length ?? 0) + header.PayloadLength; // cancelled just now: this frame is taken, the next ones dropped
        if (message is null)
        {
            // A served request is counted until its handler returns, just after its answer went
            // out: a peer that sends a new request as soon as an answer arrives may be up to one
            // per handler ahead of the count.
            if (request && Interlocked.Increment(ref _incomingRequests) > ProtocolLimits.MaxConcurrentRequests + ProtocolLimits.MaxConcurrentHandlers)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"more than {ProtocolLimits.MaxConcurrentRequests} concurrent requests");
            }

            // A request's first buffer holds this frame; it grows as bytes arrive, to the length its
            // header announces once a quarter of that is here (Message.AppendSpace). An answer's is
            // what this end asked for, up to what the peer announces.
            int announced = Math.Min(ExpectedLength(header, start), limit);
            int first = request ? Math.Min(announced, header.PayloadLength) : Math.Max(announced, header.PayloadLength);
            message = new Message(header.Type, header.Stream, ArrayPool<byte>.Shared.Rent(Math.Max(Math.Min(first, limit), 1)), 0, this) { Announced = announced };
            _assembling[header.Stream] = message;
        }
        else if (message.Type != header.Type)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"frame type {header.Type} inside a {message.Type} message");
        }

        if (message.Length + (long)header.PayloadLength > limit)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, request
                ? $"a message longer than {ProtocolLimits.MaxMessage} bytes"
                : $"a {header.Type} answer longer than the {limit} bytes its request allows");
        }

        return message;
    }

    /// <summary>After a frame's payload is in <paramref name="message"/>: hands a finished message to its waiter or handler.</summary>
    private void EndFrame(FrameHeader header, Message message)
    {
        if ((header.Flags & FrameFlags.End) == 0)
        {
            CheckUnfinished();
            return;
        }

        _assembling.Remove(header.Stream);
        Finished(message);
        Counters.AddPayloadIn(message.Length);
        if (!IsRemoteInitiated(header.Stream))
        {
            if (_pending.TryGetValue(header.Stream, out var waiter) && waiter.Response.TrySetResult(message))
            {
                return;
            }

            message.Dispose(); // a response to a request that was cancelled
            return;
        }

        _ = Task.Run(() => HandleRequestAsync(message));
    }

    /// <summary>Chunk-bearing messages announce their length in their first 20 bytes (a claim, to be capped by the caller).</summary>
    private static int ExpectedLength(FrameHeader header, ReadOnlySequence<byte> payload)
    {
        if (header.Type is FrameType.Chunk or FrameType.PutChunk or FrameType.PushChunk && payload.Length >= ChunkMessage.HeaderSize)
        {
            Span<byte> head = stackalloc byte[ChunkMessage.HeaderSize];
            payload.Slice(0, ChunkMessage.HeaderSize).CopyTo(head);
            int declared = BinaryPrimitives.ReadInt32LittleEndian(head[16..]);
            if (declared is >= 0 and <= Content.ChunkLayout.MaxChunkSize)
            {
                return ChunkMessage.HeaderSize + declared;
            }
        }

        return (int)Math.Max(payload.Length, 256);
    }

    private void OnConnectionFrame(FrameHeader header, ReadOnlySequence<byte> payload)
    {
        switch (header.Type)
        {
            case FrameType.Ping:
                if (payload.Length != PingPayloadSize)
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, $"a PING of {payload.Length} bytes (PING carries {PingPayloadSize})");
                }

                // One PONG at a time: a peer that sends PINGs and reads nothing does not make this
                // end queue answers (the answer to its earlier PING is still on the way).
                if (Interlocked.Exchange(ref _pongPending, 1) == 0)
                {
                    _ = SendPongAsync(payload.ToArray());
                }

                break;
            case FrameType.Pong:
                OnPong(payload);
                break;
            case FrameType.GoAway:
                GoingAway = true;
                ConnectionLog.GoAway(_logger, Describe());
                break;
            case FrameType.Error:
                var error = ErrorMessage.Decode(payload.ToArray());
                throw new OmniStoreException(error.Error == OmniStoreError.ProtocolError ? OmniStoreError.Unavailable : error.Error, $"{Describe()} closed the connection: {error.Message}");
            default:
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"frame type {header.Type} on stream 0");
        }
    }

    /// <summary>The payload of PING and PONG: 8 opaque bytes, echoed.</summary>
    internal const int PingPayloadSize = 8;

    private async Task SendPongAsync(byte[] echo)
    {
        try
        {
            await SendAsync(0, FrameType.Pong, echo, default).ConfigureAwait(false);
        }
        catch (OmniStoreException)
        {
            // Closed meanwhile: nobody to answer.
        }
        finally
        {
            Volatile.Write(ref _pongPending, 0);
        }
    }

    private async Task HandleRequestAsync(Message request)
    {
        uint stream = request.Stream;
        bool slot = false;
        try
        {
            await _handlerSlots.WaitAsync(_closed.Token).ConfigureAwait(false);
            slot = true;
            if (_handler is null)
            {
                request.Dispose();
                await RespondErrorAsync(stream, OmniStoreError.ProtocolError, "This end serves no requests.").ConfigureAwait(false);
                return;
            }

            await _handler.HandleAsync(this, request, _closed.Token).ConfigureAwait(false);
        }
        catch (OmniStoreException ex) when (IsOpen)
        {
            await TryRespondErrorAsync(stream, ex.Error, ex.Message).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsOpen && ex is not OperationCanceledException)
        {
            ConnectionLog.HandlerFailed(_logger, ex, request.Type.ToString(), Describe());
            await TryRespondErrorAsync(stream, OmniStoreError.Unknown, ex.Message).ConfigureAwait(false);
        }
        catch (Exception) when (!IsOpen)
        {
            // The connection closed under the handler: nobody is left to answer.
        }
        finally
        {
            if (slot)
            {
                _handlerSlots.Release();
            }
            else
            {
                request.Dispose();
            }

            Interlocked.Decrement(ref _incomingRequests);
        }
    }

    private async Task TryRespondErrorAsync(uint stream, OmniStoreError error, string message)
    {
        try
        {
            await RespondErrorAsync(stream, error, message).ConfigureAwait(false);
        }
        catch (OmniStoreException)
        {
        }
    }

    private async Task TrySendConnectionErrorAsync(OmniStoreException ex)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await SendAsync(0, FrameType.Error, ErrorMessage.Encode(ex.Error, ex.Message), default).AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OmniStoreException or OperationCanceledException)
        {
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

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        Close(new OmniStoreException(OmniStoreError.Unavailable, "The connection was closed."));
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A request this end sent: who waits for its answer, and the longest answer it accepts.</summary>
    private sealed record PendingRequest(TaskCompletionSource<Message> Response, int MaxLength);
}
