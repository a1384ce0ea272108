using System.Collections.Concurrent;
using OmniStore.Transport;

namespace OmniStore.Protocol;

/// <summary>
/// The send path: requests this end sends and the waiting for their answers, and every message
/// written as frames under the write lock, through the output pipe or in one gathered send.
/// </summary>
internal sealed partial class PeerConnection
{
    /// <summary>Frames smaller than this are copied through the pipe: pinning and a buffer list cost more than the copy.</summary>
    private const int MinGatheredFrame = 16 * 1024;
    private readonly IGatheringSender? _gatheringSender;

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
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly SemaphoreSlim _requestSlots = new(ProtocolLimits.MaxConcurrentRequests, ProtocolLimits.MaxConcurrentRequests);
    private readonly ConcurrentDictionary<uint, PendingRequest> _pending = new();
    private uint _nextStream;

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

    /// <summary>
    /// Sends a request and waits for its response. An ERROR response is thrown as
    /// <see cref="OmniStoreException"/>; the caller owns (and disposes) the returned message.
    /// </summary>
    public Task<Message> RequestAsync(FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        SendRequestAsync(type, head, body, interim: null, cancellationToken);

    /// <summary>
    /// Sends a request whose answer may be preceded by interim messages of
    /// <paramref name="interim"/>'s type (VERIFY_PROGRESS before VERIFY_RESULT): each is handed to its
    /// callback as it arrives, on the receive loop (keep it short; throwing
    /// <see cref="OmniStoreException"/> with <see cref="OmniStoreError.ProtocolError"/> for a malformed
    /// one closes the connection), and the next message on the stream is waited for. The answer is
    /// the first message of another type, as for any request.
    /// </summary>
    public Task<Message> RequestAsync(FrameType type, ReadOnlyMemory<byte> payload, InterimAnswers interim, CancellationToken cancellationToken) =>
        SendRequestAsync(type, payload, default, interim, cancellationToken);

    private async Task<Message> SendRequestAsync(FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, InterimAnswers? interim, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        await _requestSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        uint stream = Interlocked.Add(ref _nextStream, 2) - 2;
        var response = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[stream] = new PendingRequest(response, MaxResponseLength(type, head.Span), interim);
        bool consumed = false;
        try
        {
            if (_closed.IsCancellationRequested)
            {
                ThrowIfClosed();
            }

            await SendRequestFramesAsync(stream, type, head, body).ConfigureAwait(false);
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
        SendRequestAsync(type, payload, default, interim: null, cancellationToken);

    /// <summary>
    /// Writes one message as frames of at most <see cref="ProtocolLimits.MaxFramePayload"/> bytes,
    /// taking the write lock per frame so that other streams' frames interleave. While no small
    /// message (one frame or less) waits for the lock, consecutive frames of a large message go out
    /// together in one gathered send of up to <see cref="MaxGatheredBatch"/> bytes: the frames on the
    /// wire are the same, with fewer system calls and wake-ups, and a request or a short answer still
    /// waits for at most one frame. Once the first frame is out the message is always finished (the
    /// peer would otherwise hold a half message).
    /// </summary>
    /// <summary>
    /// A request's frames: its TRACE first, on its stream, when a version-8 peer is sent a request
    /// of a traced operation (docs/protocol.md, "TRACE"), then the request itself.
    /// </summary>
    private async ValueTask SendRequestFramesAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body)
    {
        if (Version >= ProtocolLimits.TraceVersion && OutgoingTrace() is { } trace)
        {
            await SendAsync(stream, FrameType.Trace, TraceMessage.Encode(trace), default).ConfigureAwait(false);
        }

        await SendAsync(stream, type, head, body).ConfigureAwait(false);
    }

    private async ValueTask SendAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body)
    {
        int total = head.Length + body.Length;
        if (total > ProtocolLimits.MaxMessage)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A message of {total} bytes exceeds the protocol's {ProtocolLimits.MaxMessage}.");
        }

        // Counted before the bytes go: a peer that has them and reports back never finds the count behind.
        Counters.AddPayloadOut(total);
        await SendFramesAsync(stream, type, head, body, 0, total).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the frames that carry the bytes <paramref name="offset"/> to <paramref name="end"/> of
    /// the message <paramref name="head"/> then <paramref name="body"/> (the last frame of the
    /// message has END set), as <see cref="SendAsync"/> describes. A message sent in several calls
    /// (<see cref="RespondArrivingAsync"/>) reads only the bytes below each call's end.
    /// </summary>
    private async ValueTask SendFramesAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, int offset, int end)
    {
        int total = head.Length + body.Length;
        if (offset == end)
        {
            // An empty message is still one frame.
            if (total != 0)
            {
                return;
            }
        }

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
                if (_gatheringSender is not null && end - offset >= MinGatheredFrame)
                {
                    int batch = Volatile.Read(ref _smallWriteWaiters) == 0 ? MaxGatheredBatch : ProtocolLimits.MaxFramePayload;
                    if (end - offset - batch < MinGatheredFrame)
                    {
                        batch = end - offset; // with the small tail (a chunk's own header makes one), not in a send of its own
                    }

                    Volatile.Write(ref _sendSince, DateTime.UtcNow.Ticks);
                    sent = await TrySendGatheredAsync(stream, type, head, body, offset, batch).ConfigureAwait(false);
                }

                if (sent == 0)
                {
                    sent = Math.Min(ProtocolLimits.MaxFramePayload, end - offset);
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
            catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException || !IsOpen)
            {
                // Closed under this send (the transport disposed, its writer completed, whatever
                // that throws): the send fails as the connection did.
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
        while (offset < end);
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

    /// <summary>A request this end sent: who waits for its answer, the longest answer it accepts (each interim message too), what takes its interim messages, if it has any, and the answer read while it arrives, if it is one (whose own frames bypass <c>Response</c>).</summary>
    private sealed record PendingRequest(TaskCompletionSource<Message> Response, int MaxLength, InterimAnswers? Interim, StreamingAnswer? Streaming = null);
}

/// <summary>Messages of <paramref name="Type"/> that come before a request's answer, each handed to <paramref name="OnMessage"/> (its payload) as it arrives.</summary>
internal sealed record InterimAnswers(FrameType Type, Action<ReadOnlyMemory<byte>> OnMessage);
