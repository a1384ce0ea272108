using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;

namespace OmniStore.Protocol;

/// <summary>
/// Liveness (docs/protocol.md, "Keep-alive"): a connection that has had no frame from its peer but
/// PINGs and PONGs for <see cref="ConnectionLiveness.KeepAliveInterval"/> sends a PING carrying a
/// timestamp (at most one per interval), and the PONG that echoes it gives the round-trip time.
/// So on an idle link both ends ping, and both measure the round trip. A peer that sends no complete frame for
/// <see cref="ConnectionLiveness.IdleTimeout"/> while taking none of our bytes (as far as the
/// transport tells: <see cref="Transport.ISendProgress"/>), or no frame of a message it has started, is
/// declared dead: the connection closes with <see cref="OmniStoreError.Unavailable"/>, so requests
/// waiting on it fail over even when nothing of ours is being sent.
/// </summary>
/// <remarks>
/// Liveness counts frames, not bytes: a peer trickling one byte a second, inside a frame or a
/// message, holds its connection for one timeout and no longer. Both ends ping, so an idle but
/// live peer (one whose read loop answers PINGs) stays connected however long it has nothing to say.
/// </remarks>
internal sealed partial class PeerConnection
{
    /// <summary>
    /// Messages the peer may have in progress at once: its requests (<see cref="ProtocolLimits.MaxConcurrentRequests"/>)
    /// and the answers to ours, with room for answers to requests we cancelled. More is a protocol error.
    /// </summary>
    private const int MaxMessagesInProgress = 4 * ProtocolLimits.MaxConcurrentRequests;

    private readonly Dictionary<uint, long> _messagesInProgress = []; // stream -> when its last frame came (ms); under its own lock
    private ConnectionLiveness _liveness = ConnectionLiveness.Default;
    private PeriodicTimer? _livenessTimer;
    private long _lastFrameAt = Environment.TickCount64;
    private long _lastTrafficAt = Environment.TickCount64; // the last frame that was not a PING or PONG
    private long _lastPingAt;
    private long _pingTimestamp; // the Stopwatch timestamp in the PING awaiting its PONG; 0 for none
    private int _pingSending;
    private long _smoothedRttTicks;
    private long _minRttTicks;
    private int _timedOut;
    private Transport.ISendProgress? _sendProgress; // null where the transport cannot tell
    private long _acknowledgedCounted = -1;
    private long _lastTookBytesAt = Environment.TickCount64; // when the peer last took TookBytes more of ours

    /// <summary>
    /// Bytes the peer must take for that to count as a sign of life: far more than our PINGs, which a
    /// peer whose transport acknowledges but whose read loop is gone would take all the same (a
    /// PING is at most a few tens of bytes a keep-alive interval, and the idle timeout is a few intervals).
    /// </summary>
    private const long TookBytes = 4096;

    /// <summary>
    /// When to ping the peer and when to declare it dead. Every connection starts with
    /// <see cref="ConnectionLiveness.Default"/>; its owner may set other values at any time.
    /// </summary>
    public ConnectionLiveness Liveness
    {
        get => Volatile.Read(ref _liveness);
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate(nameof(value));
            Volatile.Write(ref _liveness, value);
            try
            {
                if (Volatile.Read(ref _livenessTimer) is { } timer)
                {
                    timer.Period = value.CheckPeriod;
                }
            }
            catch (ObjectDisposedException)
            {
                // Closed meanwhile: nothing left to time.
            }
        }
    }

    /// <summary>The smoothed round-trip time (RFC 6298: 7/8 of the previous plus 1/8 of each PING's), or null before the first PONG.</summary>
    public TimeSpan? SmoothedRtt => Volatile.Read(ref _smoothedRttTicks) is > 0 and var ticks ? TimeSpan.FromTicks(ticks) : null;

    /// <summary>The smallest round-trip time measured, or null before the first PONG.</summary>
    public TimeSpan? MinRtt => Volatile.Read(ref _minRttTicks) is > 0 and var ticks ? TimeSpan.FromTicks(ticks) : null;

    /// <summary>Whether this end closed the connection because the peer fell silent or stalled.</summary>
    public bool TimedOut => Volatile.Read(ref _timedOut) != 0;

    /// <summary>Starts the liveness clock; called once, by the read loop.</summary>
    private void StartLiveness()
    {
        _sendProgress = (_pipe as Transport.TransportConnection)?.GetFeature<Transport.ISendProgress>();
        var timer = new PeriodicTimer(Liveness.CheckPeriod);
        Volatile.Write(ref _livenessTimer, timer);
        _ = RunLivenessAsync(timer);
    }

    private async Task RunLivenessAsync(PeriodicTimer timer)
    {
        using (timer)
        {
            try
            {
                while (await timer.WaitForNextTickAsync(_closed.Token).ConfigureAwait(false))
                {
                    CheckLiveness();
                }
            }
            catch (OperationCanceledException)
            {
                // Closed.
            }
        }
    }

    /// <summary>Called by the read loop for every whole frame that arrives, once it is handled.</summary>
    private void OnFrameArrived(FrameHeader header)
    {
        long now = Environment.TickCount64;
        Volatile.Write(ref _lastFrameAt, now);
        if (header.Type is not (FrameType.Ping or FrameType.Pong))
        {
            Volatile.Write(ref _lastTrafficAt, now);
        }

        if (header.Stream == 0)
        {
            return;
        }

        lock (_messagesInProgress)
        {
            if (header.Type == FrameType.Cancel || (header.Flags & FrameFlags.End) != 0)
            {
                _messagesInProgress.Remove(header.Stream);
            }
            else
            {
                _messagesInProgress[header.Stream] = now;
                if (_messagesInProgress.Count > MaxMessagesInProgress)
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, $"more than {MaxMessagesInProgress} messages in progress");
                }
            }
        }
    }

    private void CheckLiveness()
    {
        var liveness = Liveness;
        long now = Environment.TickCount64;

        // A peer that takes our bytes is alive though it says nothing: a worker receiving a long
        // answer through a congested link has nothing to send, and our PING waits behind the answer.
        if (_sendProgress?.BytesAcknowledged is long acknowledged)
        {
            if (_acknowledgedCounted < 0)
            {
                _acknowledgedCounted = acknowledged;
            }
            else if (acknowledged - _acknowledgedCounted >= TookBytes)
            {
                _acknowledgedCounted = acknowledged;
                _lastTookBytesAt = now;
            }
        }

        long silence = now - Math.Max(Volatile.Read(ref _lastFrameAt), _lastTookBytesAt);
        long idleTimeout = (long)liveness.IdleTimeout.TotalMilliseconds;
        if (silence >= idleTimeout)
        {
            TimeOut($"{Describe()} sent no complete frame, and took none of our bytes, for {Seconds(silence)} s");
            return;
        }

        long stall = 0;
        lock (_messagesInProgress)
        {
            foreach (var (_, lastFrame) in _messagesInProgress)
            {
                stall = Math.Max(stall, now - lastFrame);
            }
        }

        if (stall >= idleTimeout)
        {
            TimeOut($"{Describe()} started a message and sent nothing more of it for {Seconds(stall)} s");
            return;
        }

        long interval = (long)liveness.KeepAliveInterval.TotalMilliseconds;
        if (now - Volatile.Read(ref _lastTrafficAt) >= interval && now - Volatile.Read(ref _lastPingAt) >= interval)
        {
            SendPing(now);
        }
    }

    private void TimeOut(string reason)
    {
        if (Interlocked.Exchange(ref _timedOut, 1) == 0 && IsOpen)
        {
            ConnectionLog.PeerTimedOut(_logger, reason);
        }

        Close(new OmniStoreException(OmniStoreError.Unavailable, $"Closed the connection: {reason}."));
    }

    /// <summary>Sends a PING with the current timestamp, unless the previous one is still waiting to be sent (the peer is not reading).</summary>
    private void SendPing(long now)
    {
        if (Interlocked.Exchange(ref _pingSending, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref _lastPingAt, now);
        long timestamp = Stopwatch.GetTimestamp();
        var payload = new byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(payload, timestamp);
        Volatile.Write(ref _pingTimestamp, timestamp);
        _ = SendPingAsync(payload);
    }

    private async Task SendPingAsync(byte[] payload)
    {
        try
        {
            await SendAsync(0, FrameType.Ping, payload, default).ConfigureAwait(false);
        }
        catch (OmniStoreException)
        {
            // Closed: the read loop reports why.
        }
        finally
        {
            Volatile.Write(ref _pingSending, 0);
        }
    }

    /// <summary>
    /// A PONG: if it echoes the PING awaiting one, a round-trip sample. Anything else (a PONG for an
    /// older PING, or one this end never sent) is ignored, so a peer cannot make up round-trip times.
    /// </summary>
    private void OnPong(ReadOnlySequence<byte> payload)
    {
        if (payload.Length != sizeof(long))
        {
            return;
        }

        Span<byte> bytes = stackalloc byte[sizeof(long)];
        payload.CopyTo(bytes);
        long echoed = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        if (echoed == 0 || Interlocked.CompareExchange(ref _pingTimestamp, 0, echoed) != echoed)
        {
            return;
        }

        long sample = Math.Max(1, Stopwatch.GetElapsedTime(echoed).Ticks);
        long smoothed = Volatile.Read(ref _smoothedRttTicks);
        Volatile.Write(ref _smoothedRttTicks, smoothed == 0 ? sample : smoothed - (smoothed / 8) + (sample / 8));
        long min = Volatile.Read(ref _minRttTicks);
        if (min == 0 || sample < min)
        {
            Volatile.Write(ref _minRttTicks, sample);
        }
    }

    private static string Seconds(long milliseconds) => (milliseconds / 1000.0).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
}
