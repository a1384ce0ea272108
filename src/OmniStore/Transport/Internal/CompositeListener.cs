namespace OmniStore.Transport.Internal;

/// <summary>
/// Several listeners as one, for a node that listens on several addresses (of one transport or of
/// several, such as <c>tcp://0.0.0.0:7070</c> and <c>mem://relay</c>). Its <see cref="Addresses"/>
/// are theirs, in order. An accept returns what the first of them to have something has: a
/// connection before a failure, and the listeners in turn, so that one that keeps failing neither
/// starves the others nor stops them. Each failure is reported as it is, with the address it
/// happened on. Accepts are called by one caller at a time (the node's accept loop).
/// </summary>
internal sealed class CompositeListener : IConnectionListener
{
    private readonly IConnectionListener[] _listeners;

    // One accept in progress per listener, kept across calls as TcpConnectionListener keeps one per
    // socket: a call returns one that completed and leaves the others waiting. Taken with
    // Interlocked.Exchange, so that a connection is either handed out or closed by DisposeAsync.
    private readonly Task<AcceptResult>?[] _pending;
    private readonly bool[] _stopped;

    // Never disposed: without a timer or linked tokens a CancellationTokenSource holds nothing to
    // release, and an accept racing DisposeAsync may still read its token.
    private readonly CancellationTokenSource _stop = new();
    private int _next;
    private int _disposed;

    public IReadOnlyList<Rudp.Internal.RudpEndpoint> DatagramSockets => [.. _listeners.SelectMany(l => l.DatagramSockets)];

    /// <summary>Takes ownership of <paramref name="listeners"/> (at least one): disposing this disposes them.</summary>
    public CompositeListener(IReadOnlyList<IConnectionListener> listeners)
    {
        ArgumentOutOfRangeException.ThrowIfZero(listeners.Count);
        _listeners = [.. listeners];
        _pending = new Task<AcceptResult>?[_listeners.Length];
        _stopped = new bool[_listeners.Length];
        Addresses = [.. _listeners.SelectMany(l => l.Addresses)];
    }

    public IReadOnlyList<NodeAddress> Addresses { get; }

    public async Task<AcceptResult> AcceptAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                return AcceptResult.Stopped;
            }

            bool anyLeft = false;
            for (int i = 0; i < _listeners.Length; i++)
            {
                if (!_stopped[i])
                {
                    _pending[i] ??= AcceptFromAsync(i);
                    anyLeft = true;
                }
            }

            if (!anyLeft)
            {
                return AcceptResult.Stopped;
            }

            // Completed at once only when one has something: otherwise every listener is waiting,
            // so each got past what could make accepting fail (IConnectionListener.AcceptAsync).
            if (TakeCompleted() is { } result)
            {
                return result;
            }

            Task<AcceptResult>[] waiting = [.. _pending.OfType<Task<AcceptResult>>()];
            if (waiting.Length > 0) // none: DisposeAsync took them, and the next round says Stopped
            {
                await Task.WhenAny(waiting).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The result of a completed accept, starting after the listener that gave the last one, a
    /// connection before a failure; null if none completed with one. A listener that stopped is
    /// left out from then on.
    /// </summary>
    private AcceptResult? TakeCompleted()
    {
        int failed = -1;
        for (int k = 0; k < _listeners.Length; k++)
        {
            int i = (_next + k) % _listeners.Length;
            if (_pending[i] is not { IsCompleted: true } done)
            {
                continue;
            }

            if (done.IsCompletedSuccessfully && done.Result.Status == AcceptStatus.Stopped)
            {
                _pending[i] = null;
                _stopped[i] = true;
            }
            else if (done.IsCompletedSuccessfully && done.Result.Status == AcceptStatus.ListenerFailed)
            {
                failed = failed < 0 ? i : failed;
            }
            else
            {
                return Take(i); // a connection, one that failed alone, or an accept that threw
            }
        }

        if (failed < 0)
        {
            return null;
        }

        var failure = Take(failed);
        return failure with { Problem = $"{failure.Problem ?? "accept failed"} (on {string.Join(", ", _listeners[failed].Addresses)})" };
    }

    private AcceptResult Take(int i)
    {
        var done = Interlocked.Exchange(ref _pending[i], null)!;
        _next = (i + 1) % _listeners.Length;
        return done.GetAwaiter().GetResult(); // an accept that threw (none should) throws to the caller, and the next call asks again
    }

    private async Task<AcceptResult> AcceptFromAsync(int i)
    {
        try
        {
            return await _listeners[i].AcceptAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return AcceptResult.Stopped;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        List<Exception>? errors = null;
        foreach (var listener in _listeners)
        {
            try
            {
                await listener.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                (errors ??= []).Add(ex); // the others are disposed all the same
            }
        }

        // A connection accepted and never handed out would stay open: close it.
        for (int i = 0; i < _pending.Length; i++)
        {
            if (Interlocked.Exchange(ref _pending[i], null) is not { } pending)
            {
                continue;
            }

            try
            {
                if ((await pending.ConfigureAwait(false)).Connection is { } connection)
                {
                    connection.Refuse([]);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // An accept that threw while stopping has nothing to close.
            }
        }

        if (errors is not null)
        {
            throw new AggregateException(errors);
        }
    }
}
