using System.Buffers;

namespace OmniStore.Protocol;

/// <summary>
/// Answers that move while they arrive (docs/architecture.md, "Cut-through on a miss"): a request
/// whose answer is read frame by frame from one buffer of the asked length, and an answer sent
/// frame by frame while its body arrives from elsewhere, abandoned with an ERROR when it cannot be
/// finished (docs/protocol.md, "Abandoned answers").
/// </summary>
internal sealed partial class PeerConnection
{
    // Streaming answers whose buffer the read loop may still write: used by the read loop only.
    private readonly Dictionary<uint, StreamingAnswer> _streaming = [];

    /// <summary>
    /// Sends a request whose answer, of <paramref name="answerType"/> and exactly
    /// <paramref name="answerLength"/> payload bytes, is read while it arrives: returns once the
    /// request is sent. The caller holds one share of the answer and gives it up with
    /// <see cref="StreamingAnswer.Release"/>. An ERROR answer, the connection closing, fewer bytes
    /// at the last frame or another type fail the answer; more bytes than asked is a protocol error
    /// that closes the connection, as for any answer. <paramref name="cancellationToken"/> abandons
    /// the answer (CANCEL is sent).
    /// </summary>
    public async Task<StreamingAnswer> RequestStreamingAsync(FrameType type, ReadOnlyMemory<byte> payload, FrameType answerType, int answerLength, CancellationToken cancellationToken)
    {
        var answer = new StreamingAnswer(answerType, answerLength);
        ThrowIfClosed();
        await _requestSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        uint stream = Interlocked.Add(ref _nextStream, 2) - 2;

        // Frames of another type than the answer's (an ERROR) are assembled as any small answer.
        var other = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[stream] = new PendingRequest(other, MaxSmallResponse, Interim: null, answer);
        try
        {
            ThrowIfClosed();
            await SendRequestFramesAsync(stream, type, payload, default).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            answer.Fail(ex);
            answer.Release();
            _pending.TryRemove(stream, out _);
            _requestSlots.Release();
            throw;
        }

        _ = FollowStreamingAsync(stream, answer, cancellationToken);
        return answer;
    }

    /// <summary>Frees the request's slot once its streaming answer ended, and sends CANCEL when it failed here (the requester cancelled, or it broke the protocol).</summary>
    private async Task FollowStreamingAsync(uint stream, StreamingAnswer answer, CancellationToken cancellationToken)
    {
        using (cancellationToken.Register(static state => ((StreamingAnswer)state!).Fail(new OperationCanceledException("The request was cancelled.")), answer))
        {
            await answer.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _pending.TryRemove(stream, out _);
        _requestSlots.Release();
        if (answer.Completion.IsFaulted && IsOpen)
        {
            // Tell the peer to stop (abandoned here, or refused as malformed; after an ERROR the
            // peer has nothing left to stop); frames that still arrive are dropped by the read loop.
            try
            {
                await SendAsync(stream, FrameType.Cancel, default, default).ConfigureAwait(false);
            }
            catch (OmniStoreException)
            {
            }
        }
    }

    /// <summary>The streaming answer a response frame of its type belongs to, if its request asked for one.</summary>
    private bool TryGetStreaming(FrameHeader header, out StreamingAnswer answer)
    {
        answer = null!;
        if (IsRemoteInitiated(header.Stream) || !_pending.TryGetValue(header.Stream, out var pending) || pending.Streaming is not { } streaming || streaming.Type != header.Type)
        {
            return false;
        }

        answer = streaming;
        return true;
    }

    /// <summary>
    /// Read loop, before a frame of a streaming answer: where its payload goes (the buffer rented at
    /// the first frame), or false when the answer takes no more frames (failed, abandoned) and the
    /// payload is to be dropped.
    /// </summary>
    private bool BeginStreamingFrame(FrameHeader header, StreamingAnswer answer, out Memory<byte> destination)
    {
        destination = default;
        if (!_streaming.ContainsKey(header.Stream))
        {
            if (answer.IsFinished || !answer.Begin(this, header.Stream))
            {
                return false;
            }

            _streaming[header.Stream] = answer;
        }
        else if (answer.IsFinished)
        {
            StopStreaming(header.Stream);
            return false;
        }

        if (answer.Received + (long)header.PayloadLength > answer.Length)
        {
            var violation = new OmniStoreException(OmniStoreError.ProtocolError, $"a {header.Type} answer longer than the {answer.Length} bytes its request allows");
            answer.Fail(violation);
            StopStreaming(header.Stream);
            throw violation;
        }

        destination = answer.Space(header.PayloadLength);
        return true;
    }

    /// <summary>Read loop, after a frame's payload is in its streaming answer: publishes it, and ends the answer at its last frame.</summary>
    private void EndStreamingFrame(FrameHeader header, StreamingAnswer answer)
    {
        answer.Publish(header.PayloadLength);
        if ((header.Flags & FrameFlags.End) == 0)
        {
            CheckUnfinished();
            return;
        }

        Counters.AddPayloadIn(answer.Received);

        // The request is no longer in flight once its answer ended, before anyone sees it end.
        _pending.TryRemove(header.Stream, out _);
        if (answer.Received != answer.Length)
        {
            answer.Fail(new OmniStoreException(OmniStoreError.ProtocolError, $"{Describe()} ended a {header.Type} answer at {answer.Received} bytes; its request asked for {answer.Length}."));
        }
        else
        {
            answer.Complete();
        }

        StopStreaming(header.Stream);
    }

    /// <summary>Read loop: no frame lands in this stream's answer any more: its bytes are no longer unfinished, and the connection's share is given up.</summary>
    private void StopStreaming(uint stream)
    {
        if (_streaming.Remove(stream, out var answer))
        {
            Finished(answer.Message!);
            answer.Release();
        }
    }

    /// <summary>Read loop: a whole message of another type (an ERROR) answered a streaming request, which fails with it.</summary>
    private static void FailStreaming(StreamingAnswer answer, Message message)
    {
        OmniStoreException reason;
        if (message.Type == FrameType.Error)
        {
            try
            {
                reason = ErrorMessage.Decode(message.Payload);
            }
            catch (OmniStoreException malformed)
            {
                reason = malformed;
            }
        }
        else
        {
            reason = new OmniStoreException(OmniStoreError.ProtocolError, $"A {answer.Type} was asked for; the peer answered with {message.Type}.");
        }

        answer.Fail(reason);
    }

    /// <summary>
    /// Receives the rest of a large frame of a streaming answer straight into its buffer (or, for an
    /// answer that takes no more frames, into a scratch buffer that is dropped).
    /// </summary>
    private async Task ReceiveStreamingDirectlyAsync(ReadOnlySequence<byte> arrived, FrameHeader header, StreamingAnswer answer, Action consumePipe)
    {
        int rest = header.PayloadLength - (int)arrived.Length;
        if (BeginStreamingFrame(header, answer, out var destination))
        {
            arrived.CopyTo(destination.Span);
            consumePipe();
            await ReceiveExactlyAsync(destination.Slice((int)arrived.Length, rest)).ConfigureAwait(false);
            EndStreamingFrame(header, answer);
            return;
        }

        consumePipe();
        var scratch = ArrayPool<byte>.Shared.Rent(rest);
        try
        {
            await ReceiveExactlyAsync(scratch.AsMemory(0, rest)).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private async Task ReceiveExactlyAsync(Memory<byte> destination)
    {
        try
        {
            await _directReceiver!.ReceiveExactlyAsync(destination, _closed.Token).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{Describe()} closed the connection in the middle of a frame.");
        }
    }

    /// <summary>
    /// Answers request <paramref name="stream"/> with <paramref name="head"/> then
    /// <paramref name="body"/>, whose bytes are still arriving: every whole frame goes out as soon as
    /// its bytes are there (under the write lock per frame, as any message, so other streams
    /// interleave), and the last one only once the body is checked. When the body fails after the
    /// first frame went out, the message is finished with an ERROR frame in its place (docs/protocol.md,
    /// "Abandoned answers"), and this returns normally: the ERROR is the answer. A body that fails
    /// before any frame went out is thrown, for the caller to answer as it would any error. Send this
    /// only on a connection of <see cref="ProtocolLimits.AbandonVersion"/> or later.
    /// </summary>
    public async Task RespondArrivingAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, IArrivingBody body, CancellationToken cancellationToken)
    {
        const int Frame = ProtocolLimits.MaxFramePayload;
        int total = head.Length + body.Length;
        int offset = 0;
        while (offset < total)
        {
            int end;
            try
            {
                if (offset + Frame < total)
                {
                    // Whole frames while the body arrives, never the message's last byte: that
                    // frame waits for the check.
                    int here = head.Length + await body.WaitAsync(offset + Frame - head.Length, cancellationToken).ConfigureAwait(false);
                    end = offset + ((Math.Min(here, total - 1) - offset) / Frame * Frame);
                }
                else
                {
                    await body.WaitCheckedAsync(cancellationToken).ConfigureAwait(false);
                    end = total;
                }
            }
            catch (OmniStoreException ex) when (offset > 0)
            {
                // The peer holds part of a CHUNK: the ERROR ends the stream in its place.
                await SendAsync(stream, FrameType.Error, ErrorMessage.Encode(ex.Error, ex.Message), default).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (offset > 0 && IsOpen)
            {
                // The peer cancelled the request (it drops this), or this node is stopping: as for
                // any request cancelled here, the asker may try again, elsewhere if need be.
                await SendAsync(stream, FrameType.Error, ErrorMessage.Encode(OmniStoreError.Unavailable, "The request was cancelled on this node before it could be answered; try again."), default).ConfigureAwait(false);
                return;
            }

            Counters.AddPayloadOut(end - offset); // before the bytes go, as in SendAsync
            await SendFramesAsync(stream, type, head, body.Memory, offset, end).ConfigureAwait(false);
            offset = end;
        }
    }
}
