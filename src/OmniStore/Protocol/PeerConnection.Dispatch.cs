using System.Diagnostics;
using OmniStore.Diagnostics;

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

    // The connection whose handler the current code runs for (flows into what a handler awaits),
    // so that DisposeAsync called from a handler does not wait for that handler.
    private static readonly AsyncLocal<PeerConnection?> ServingFor = new();

    // Handlers started and not yet returned; once the connection is closed, the last one to return
    // completes _handlersFinished.
    private int _runningHandlers;

    // The token of each request being served, cancelled by the peer's CANCEL: a handler that waits
    // (for a chunk still arriving, say) stops waiting and gives up what it holds.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<uint, CancellationTokenSource> _serving = new();
    private readonly TaskCompletionSource _handlersFinished = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // The trace context of the traced request being served, when this process records no span of
    // its own for it (nothing listens to the ActivitySource): passed on to the requests the handler
    // sends (a relay's fetch from its parent), so the trace goes on through this node unbroken.
    private static readonly AsyncLocal<ActivityContext?> ServedTrace = new();

    /// <summary>
    /// The trace context a request sent now carries in its TRACE frame: the current span, if it is
    /// recorded, else that of the traced request being served; null for none (no TRACE is sent).
    /// </summary>
    private static ActivityContext? OutgoingTrace() =>
        Activity.Current is { Recorded: true } current ? current.Context : ServedTrace.Value;

    /// <summary>
    /// Begins serving a traced request: a server span, child of the peer's, when something listens
    /// to <see cref="Telemetry.Source"/>; in any case the context the handler's own requests carry on.
    /// Runs in the handler's execution context, so both flow into what it awaits.
    /// </summary>
    private Activity? StartServing(FrameType type, ActivityContext trace)
    {
        var activity = Telemetry.Source.StartActivity(ServeSpanName(type), ActivityKind.Server, trace);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("omnistore.request", type.ToString());
            activity.SetTag("omnistore.peer.role", Remote.Role.ToString());
        }

        ServedTrace.Value = activity is { Recorded: true } ? null : trace;
        return activity;
    }

    /// <summary>Clears the ambient trace of the code that runs next in this execution context (an async method's own).</summary>
    private static void ForgetAmbientTrace()
    {
        Activity.Current = null;
        ServedTrace.Value = null;
    }

    private static string ServeSpanName(FrameType type) => "OmniStore.Serve " + type;

    /// <summary>Answers request <paramref name="stream"/>.</summary>
    public ValueTask RespondAsync(uint stream, FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body = default) =>
        SendAsync(stream, type, head, body);

    /// <summary>Answers request <paramref name="stream"/> with an ERROR.</summary>
    public ValueTask RespondErrorAsync(uint stream, OmniStoreError error, string message) =>
        SendAsync(stream, FrameType.Error, ErrorMessage.Encode(error, message), default);

    /// <summary>
    /// Awaits <paramref name="wait"/> without holding the handler's slot (a WAIT, which may sleep for
    /// hours, must not keep the connection's other requests from being served), then takes a slot
    /// again before it returns, since the handler goes on to answer. Only a handler may call it.
    /// </summary>
    public async Task<T> WaitOutsideHandlerSlotAsync<T>(Task<T> wait)
    {
        _handlerSlots.Release();
        try
        {
            return await wait.ConfigureAwait(false);
        }
        finally
        {
            // Never cancelled: the handler's finally releases the slot it believes it holds.
            await _handlerSlots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Read loop: the peer cancelled request <paramref name="stream"/>, which is being served: its handler's token is cancelled (off the read loop).</summary>
    private void CancelServing(uint stream)
    {
        if (_serving.TryGetValue(stream, out var serving))
        {
            _ = Task.Run(() =>
            {
                try
                {
                    serving.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The handler returned meanwhile.
                }
            });
        }
    }

    /// <summary>Serves a request that has fully arrived; called by the read loop, so counted before the loop can end.</summary>
    private void StartHandler(Message request)
    {
        Interlocked.Increment(ref _runningHandlers);
        _ = Task.Run(() => HandleRequestAsync(request));
    }

    private async Task HandleRequestAsync(Message request)
    {
        uint stream = request.Stream;
        bool slot = false;
        Activity? activity = null;
        using var serving = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token);
        _serving[stream] = serving;
        try
        {
            ServingFor.Value = this;
            await _handlerSlots.WaitAsync(serving.Token).ConfigureAwait(false);
            slot = true;
            if (_handler is null)
            {
                request.Dispose();
                await RespondErrorAsync(stream, OmniStoreError.ProtocolError, "This end serves no requests.").ConfigureAwait(false);
                return;
            }

            if (request.Trace is { } trace)
            {
                activity = StartServing(request.Type, trace);
            }

            await _handler.HandleAsync(this, request, serving.Token).ConfigureAwait(false);
        }
        catch (OmniStoreException ex) when (IsOpen)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Error.ToString());
            await TryRespondErrorAsync(stream, ex.Error, ex.Message).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (IsOpen)
        {
            // Cancelled by something other than this connection closing (a node shutting down, a
            // shared fetch that failed so): the request still gets an answer, never silence.
            await TryRespondErrorAsync(stream, OmniStoreError.Unavailable, "The request was cancelled on this node before it could be answered; try again.").ConfigureAwait(false);
        }
        catch (Exception ex) when (IsOpen)
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
            activity?.Dispose();
            _serving.TryRemove(new KeyValuePair<uint, CancellationTokenSource>(stream, serving));
            if (slot)
            {
                _handlerSlots.Release();
            }
            else
            {
                request.Dispose();
            }

            Interlocked.Decrement(ref _incomingRequests);
            if (Interlocked.Decrement(ref _runningHandlers) == 0 && !IsOpen)
            {
                _handlersFinished.TrySetResult();
            }
        }
    }

    /// <summary>
    /// After the close, once the read loop has ended: waits until every handler has returned but the
    /// caller's own (when a handler disposes its connection), or until <paramref name="deadline"/>
    /// (<see cref="Environment.TickCount64"/>). Returns how many of the others are still running.
    /// </summary>
    private async ValueTask<int> WaitForHandlersAsync(long deadline)
    {
        // A handler that returned before the close did not complete _handlersFinished, but then the
        // count read here after the close is already below it; one returning after the close sees
        // the connection closed.
        int own = ServingFor.Value == this ? 1 : 0;
        while (Volatile.Read(ref _runningHandlers) > own)
        {
            var remaining = Remaining(deadline);
            if (remaining == TimeSpan.Zero)
            {
                return Volatile.Read(ref _runningHandlers) - own;
            }

            // The caller's own handler keeps the count above 0: look again now and then instead.
            var wait = own == 0 ? remaining : TimeSpan.FromMilliseconds(Math.Min(20, remaining.TotalMilliseconds));
            await _handlersFinished.Task.WaitAsync(wait).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return 0;
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
