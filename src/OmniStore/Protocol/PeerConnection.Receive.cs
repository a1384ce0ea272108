using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using OmniStore.Transport;

namespace OmniStore.Protocol;

/// <summary>
/// The receive path: the read loop, frames assembled into messages (through the input pipe, or a
/// large payload received straight into its message), answers handed to their waiters, and the
/// frames of stream 0.
/// </summary>
internal sealed partial class PeerConnection
{
    /// <summary>Frame payloads from this size on are received straight into their message (see <see cref="IDirectReceiver"/>).</summary>
    private const int MinDirectPayload = 32 * 1024;

    /// <summary>How much of a large payload must have arrived through the pipe first: a chunk message's own header.</summary>
    private const int MinDirectPrefix = 64;
    private readonly IDirectReceiver? _directReceiver;

    private readonly Dictionary<uint, Message> _assembling = [];

    // TRACE frames whose request has not begun to arrive yet (read loop only), at most
    // MaxConcurrentRequests of them: a peer that sends TRACEs and no requests holds no more.
    private readonly Dictionary<uint, ActivityContext?> _traces = [];

    private async Task ReadLoopAsync()
    {
        // The loop (and every handler it starts) outlives the operation that opened the connection:
        // that operation's span must not become the parent of everything the connection serves.
        ForgetAmbientTrace();
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
                    if (!buffer.IsEmpty || _assembling.Count > 0 || _streaming.Count > 0)
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
            foreach (var stream in _streaming.Keys.ToList())
            {
                StopStreaming(stream);
            }

            await CloseTransportAsync().ConfigureAwait(false); // not DisposeAsync, which waits for this loop
        }
    }

    /// <summary>Whether <paramref name="buffer"/> starts with <paramref name="header"/> (parsed, payload incomplete) of a large request or response frame whose payload has begun to arrive.</summary>
    private bool IsDirectCandidate(in ReadOnlySequence<byte> buffer, FrameHeader header) =>
        _directReceiver is not null
        && header.PayloadLength >= MinDirectPayload
        && header.Stream != 0
        && header.Type != FrameType.Cancel
        && buffer.Length >= ProtocolLimits.HeaderSize + MinDirectPrefix
        && (IsRemoteInitiated(header.Stream) || _pending.ContainsKey(header.Stream)); // a frame to drop goes through the pipe (a streaming answer's too, below)

    /// <summary>
    /// Takes the frame that starts <paramref name="buffer"/> (the whole rest of the buffer, which ends
    /// inside its payload), consumes the pipe, and receives the payload's remainder straight into its message.
    /// </summary>
    private async Task ReceiveRestDirectlyAsync(PipeReader input, ReadOnlySequence<byte> buffer, FrameHeader header)
    {
        var arrived = buffer.Slice(ProtocolLimits.HeaderSize);
        if (TryGetStreaming(header, out var streaming))
        {
            await ReceiveStreamingDirectlyAsync(arrived, header, streaming, () => input.AdvanceTo(buffer.End)).ConfigureAwait(false);
            return;
        }

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

        if (header.Type == FrameType.Trace)
        {
            OnTrace(header, payload);
            return;
        }

        if (header.Type == FrameType.Cancel)
        {
            _traces.Remove(header.Stream);

            // A request still arriving is dropped; one being served sees its token cancelled and
            // finishes (its answer, if any, is discarded by the peer, which stopped waiting).
            if (IsRemoteInitiated(header.Stream) && _assembling.Remove(header.Stream, out var abandoned))
            {
                Finished(abandoned);
                abandoned.Dispose();
                Interlocked.Decrement(ref _incomingRequests);
            }
            else if (IsRemoteInitiated(header.Stream))
            {
                CancelServing(header.Stream);
            }

            return;
        }

        if (!IsRemoteInitiated(header.Stream) && !_pending.ContainsKey(header.Stream))
        {
            DropResponseFrame(header);
            return;
        }

        if (TryGetStreaming(header, out var streaming))
        {
            if (BeginStreamingFrame(header, streaming, out var destination))
            {
                payload.CopyTo(destination.Span);
                EndStreamingFrame(header, streaming);
            }

            return;
        }

        var message = BeginFrame(header, payload);
        message.Append(payload);
        EndFrame(header, message);
    }

    /// <summary>
    /// A TRACE (docs/protocol.md, "TRACE"): the trace context of the request that follows on its
    /// stream, kept until that request's first frame. It comes only from a version-8 peer, only
    /// before a request of the peer's, as one whole frame of exactly 25 bytes, once per stream.
    /// </summary>
    private void OnTrace(FrameHeader header, ReadOnlySequence<byte> payload)
    {
        string? problem = Version < ProtocolLimits.TraceVersion ? $"a TRACE frame on a connection of protocol version {Version} (TRACE is version {ProtocolLimits.TraceVersion}'s)"
            : !IsRemoteInitiated(header.Stream) ? $"a TRACE frame on stream {header.Stream}, which this end opened (TRACE precedes a request only)"
            : payload.Length != TraceMessage.Size ? $"a TRACE of {payload.Length} bytes (TRACE carries {TraceMessage.Size})"
            : (header.Flags & FrameFlags.End) == 0 ? "a TRACE without END (TRACE is one frame)"
            : _assembling.ContainsKey(header.Stream) ? $"a TRACE frame inside the request on stream {header.Stream}"
            : _traces.ContainsKey(header.Stream) ? $"a second TRACE frame on stream {header.Stream}"
            : _traces.Count >= ProtocolLimits.MaxConcurrentRequests ? $"more than {ProtocolLimits.MaxConcurrentRequests} TRACE frames waiting for their requests"
            : null;
        if (problem is not null)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, problem);
        }

        Span<byte> bytes = stackalloc byte[TraceMessage.Size];
        payload.CopyTo(bytes);
        _traces[header.Stream] = TraceMessage.Decode(bytes);
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

        StopStreaming(header.Stream);
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
        if (message is not null && !request && header.Type == FrameType.Error && message.Type != FrameType.Error)
        {
            // An abandoned answer (docs/protocol.md, "Abandoned answers"): the ERROR takes the place
            // of what arrived of it.
            _assembling.Remove(header.Stream);
            Finished(message);
            message.Dispose();
            message = null;
        }

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
            if (request && _traces.Remove(header.Stream, out var trace))
            {
                message.Trace = trace;
            }
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
            if (_pending.TryGetValue(header.Stream, out var waiter) && waiter.Streaming is { } streaming)
            {
                // An ERROR (or a message of the wrong type) in place of a streaming answer, or of
                // the rest of one: it fails with it, and its buffer takes no more frames.
                _pending.TryRemove(header.Stream, out _);
                using (message)
                {
                    FailStreaming(streaming, message);
                }

                StopStreaming(header.Stream);
                return;
            }

            if (waiter is not null && waiter.Interim is { } interim && message.Type == interim.Type)
            {
                // An interim answer (progress): handed over, and the stream stays open for the next.
                using (message)
                {
                    interim.OnMessage(message.PayloadMemory);
                }

                return;
            }

            if (waiter is not null && waiter.Response.TrySetResult(message))
            {
                return;
            }

            message.Dispose(); // a response to a request that was cancelled
            return;
        }

        StartHandler(message);
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
}
