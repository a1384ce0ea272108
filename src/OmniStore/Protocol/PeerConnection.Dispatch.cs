namespace OmniStore.Protocol;

/// <summary>
/// Dispatch of the peer's requests: each finished request runs its handler, at most
/// <see cref="ProtocolLimits.MaxConcurrentHandlers"/> at once, and is answered exactly once.
/// </summary>
internal sealed partial class PeerConnection
{
    private readonly IRequestHandler? _handler;

    // Requests a peer may have served at once. The rest wait holding only their request message, so
    // a peer that asks for many chunks and reads slowly costs this node at most this many chunk
    // buffers; the socket's backpressure does the rest.
    private readonly SemaphoreSlim _handlerSlots = new(ProtocolLimits.MaxConcurrentHandlers, ProtocolLimits.MaxConcurrentHandlers);
    private int _incomingRequests;

    /// <summary>Answers request <paramref name="stream"/>.</summary>
    public ValueTask RespondAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body = default) =>
        SendAsync(stream, type, head, body);

    /// <summary>Answers request <paramref name="stream"/> with an ERROR.</summary>
    public ValueTask RespondErrorAsync(uint stream, OmniStoreError error, string message) =>
        SendAsync(stream, FrameType.Error, ErrorMessage.Encode(error, message), default);

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
}
