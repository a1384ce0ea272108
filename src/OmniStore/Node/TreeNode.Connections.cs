using System.Net;
using Microsoft.Extensions.Logging;
using OmniStore.Internal;
using OmniStore.Node.Internal;
using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Node;

/// <summary>
/// Accepting children: the accept loop, which outlives every failed accept; admission within the
/// connection limits; the handshake within its timeout; and the child's liveness settings.
/// </summary>
internal sealed partial class TreeNode
{
    // A failed accept is retried after 10 ms, doubling to 1 s while it keeps failing: soon enough to
    // serve again within a second of the cause passing, rarely enough not to spin on EMFILE.
    private static readonly TimeSpan MinAcceptBackoff = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxAcceptBackoff = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan LogWindow = TimeSpan.FromSeconds(10);
    private readonly LogThrottle _acceptFailureLog = new(LogWindow, 1);
    private readonly LogThrottle _acceptRecoveryLog = new(LogWindow, 1);
    private readonly LogThrottle _refusalLog = new(LogWindow, 5);
    private readonly LogThrottle _handshakeFailureLog = new(LogWindow, 10);
    private long _timedOutChildren;

    /// <summary>The node's connection limits and counts, and whether it refuses connections now.</summary>
    public ConnectionStatus Connections => _admission.Snapshot(Interlocked.Read(ref _timedOutChildren));

    private static ConnectionAdmission CreateAdmission(TreeNodeOptions options)
    {
        int? ceiling = ConnectionAdmission.DescriptorCeiling();
        int max = options.MaxConnections is { } configured
            ? Math.Min(configured, ceiling ?? int.MaxValue)
            : ceiling ?? ConnectionAdmission.DefaultCeiling;
        return new(max, options.MaxConnectionsPerAddress, options.MaxPendingHandshakes);
    }

    private void LogConnectionLimits()
    {
        var limit = DescriptorLimit.Get();
        int? open = DescriptorLimit.OpenNow();
        string descriptors = limit is { } known
            ? $"descriptors: {open?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} open, limit {known.Soft}"
            : "no descriptor limit";
        if (_options.MaxConnections is { } configured && configured > _admission.MaxConnections)
        {
            // A flood up to the configured limit would run the process out of descriptors, and
            // then the runtime itself may abort (see ConnectionAdmission.DescriptorCeiling).
            NodeLog.ConnectionLimitAboveDescriptors(_logger, configured, _admission.MaxConnections, descriptors);
        }

        NodeLog.ConnectionLimits(_logger, _admission.MaxConnections, _admission.MaxConnectionsPerAddress, _admission.MaxPendingHandshakes, descriptors);
    }

    private async Task AcceptLoopAsync()
    {
        var backoff = MinAcceptBackoff;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var accepting = _listener.AcceptAsync(_stopping.Token);
                if (!accepting.IsCompleted)
                {
                    // The accept waits for a connection: it got past taking a descriptor (the
                    // kernel takes one before it looks at the queue), so a failure has passed
                    // even if no connection comes to prove it.
                    NoteAcceptWorks();
                }

                var result = await accepting.ConfigureAwait(false);
                switch (result.Status)
                {
                    case AcceptStatus.Stopped:
                        return;
                    case AcceptStatus.ConnectionFailed:
                        NoteAcceptWorks();
                        backoff = MinAcceptBackoff;
                        continue; // that peer gave up before it was accepted
                    case AcceptStatus.ListenerFailed:
                        _admission.AcceptFailed(result.Problem ?? "accept failed");
                        if (ShouldLog(_acceptFailureLog))
                        {
                            NodeLog.AcceptFailed(_logger, result.Problem ?? "accept failed", backoff.TotalMilliseconds);
                        }

                        await Task.Delay(backoff, _stopping.Token).ConfigureAwait(false);
                        backoff = TimeSpan.FromTicks(Math.Min(MaxAcceptBackoff.Ticks, backoff.Ticks * 2));
                        continue;
                }

                backoff = MinAcceptBackoff;
                NoteAcceptWorks();
                Admit(result.Connection!);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Nothing here is meant to throw; if something does, the node must still accept.
                NodeLog.AcceptLoopFailed(_logger, ex);
                try
                {
                    await Task.Delay(MaxAcceptBackoff, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Accepting works (again): the node stops refusing for an accept failure, and says so once.</summary>
    private void NoteAcceptWorks()
    {
        if (_admission.AcceptSucceeded() is { } recovered && ShouldLog(_acceptRecoveryLog))
        {
            NodeLog.AcceptingAgain(_logger, Math.Round(recovered.For.TotalSeconds, 1), recovered.Failures);
        }
    }

    /// <summary>Admits <paramref name="socket"/> within the limits and starts its handshake, or refuses it at once.</summary>
    private void Admit(IncomingConnection socket)
    {
        var key = ConnectionAdmission.KeyOf(socket.RemoteEndPoint?.Address);
        if (_admission.TryAdmit(key) is { } refusal)
        {
            // Refused at once, not left in the kernel's backlog: the peer learns why, and the
            // backlog stays free for the connections the node can take.
            socket.Refuse(ConnectionRefusal.Frame(OmniStoreError.Unavailable, refusal.Message));
            if (ShouldLog(_refusalLog))
            {
                NodeLog.ConnectionRefused(_logger, socket.RemoteEndPoint?.ToString(), refusal.Message);
            }

            return;
        }

        var counters = new LinkCounters();
        if (socket.Open(counters) is not { } transport)
        {
            _admission.HandshakeEnded(key);
            _admission.Closed(key);
            return;
        }

        _ = Task.Run(() => ServeChildAsync(transport, key));
    }

    private async Task ServeChildAsync(TransportConnection transport, IPAddress key)
    {
        var counters = transport.Counters;
        try
        {
            PeerConnection connection;
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token))
            {
                handshake.CancelAfter(_options.HandshakeTimeout);
                try
                {
                    connection = await PeerConnection.StartAsync(transport, isOpener: false, IdentityForChild(transport.RemoteEndPoint), this, _connectionLimits, _logger, handshake.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
                {
                    string reason = ex is OperationCanceledException ? $"no handshake within {_options.HandshakeTimeout.TotalSeconds} s" : ex.Message;
                    if (!_stopping.IsCancellationRequested)
                    {
                        _recentErrors.Note($"a child from {transport.RemoteEndPoint} refused: {reason}");
                        if (ShouldLog(_handshakeFailureLog))
                        {
                            NodeLog.ChildRefused(_logger, transport.RemoteEndPoint?.ToString(), reason);
                        }
                    }

                    return;
                }
                finally
                {
                    _admission.HandshakeEnded(key);
                }
            }

            connection.Liveness = _options.Liveness;
            RememberChildAddress(connection, transport.RemoteEndPoint);
            _children[connection] = 0;
            // A relay joining is news; a client is routine, and thousands may come and go a minute.
            var level = connection.Remote.Role == NodeRole.Relay ? LogLevel.Information : LogLevel.Debug;
            if (_logger.IsEnabled(level))
            {
#pragma warning disable CA1873 // guarded by IsEnabled(level) just above; the analyzer only sees constant levels
                NodeLog.ChildConnected(_logger, level, connection.Describe(), transport.RemoteEndPoint?.ToString());
#pragma warning restore CA1873
            }

            _ = PushRevocationsAsync(connection); // a child that missed a push gets the list held now
            await connection.Completion.ConfigureAwait(false);
            lock (_retiredChildCounters) // with ChildrenTotal: a child is counted once, connected or retired
            {
                _children.TryRemove(connection, out _);
                ForgetTreeState(connection);
                _retiredChildCounters.AddPayloadIn(counters.PayloadIn);
                _retiredChildCounters.AddPayloadOut(counters.PayloadOut);
                _retiredChildCounters.AddWireIn(counters.WireIn);
                _retiredChildCounters.AddWireOut(counters.WireOut);
            }

            if (connection.TimedOut)
            {
                Interlocked.Increment(ref _timedOutChildren);
            }

            if (_logger.IsEnabled(level))
            {
#pragma warning disable CA1873 // guarded, as above
                NodeLog.ChildDisconnected(_logger, level, connection.Describe());
#pragma warning restore CA1873
            }
        }
        finally
        {
            _admission.Closed(key);
        }
    }

    /// <summary>Whether <paramref name="throttle"/> lets a line through; first says how many it held back, if any.</summary>
    private bool ShouldLog(LogThrottle throttle)
    {
        if (!throttle.ShouldLog(out int suppressed))
        {
            return false;
        }

        if (suppressed > 0)
        {
            NodeLog.Suppressed(_logger, suppressed);
        }

        return true;
    }
}
