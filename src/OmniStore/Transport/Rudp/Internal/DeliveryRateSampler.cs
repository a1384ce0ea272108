namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// Delivery-rate samples as draft-cheng-iccrg-delivery-rate-estimation computes them: each packet
/// remembers, when sent, how much had been delivered and when; its ack then yields the bytes
/// delivered since over the longer of the send and ack intervals, so that neither ack compression
/// nor a burst of sends inflates the rate. A sample taken while the sender had nothing to send
/// (application-limited) is marked, so that a model keeps its estimate rather than lower it.
/// Bytes and microseconds.
/// </summary>
internal sealed class DeliveryRateSampler
{
    private long _firstSentTime;
    private long _appLimitedUntil;

    /// <summary>Bytes delivered (acknowledged) so far.</summary>
    public long Delivered { get; private set; }

    /// <summary>When <see cref="Delivered"/> last grew.</summary>
    public long DeliveredTime { get; private set; }

    /// <summary>Stamps a packet about to be sent at <paramref name="now"/> with <paramref name="bytesInFlight"/> before it.</summary>
    public SentPacket Stamp(SentPacket packet, long now, long bytesInFlight)
    {
        if (bytesInFlight == 0)
        {
            _firstSentTime = now;
            DeliveredTime = now;
        }

        return packet with
        {
            SentAt = now,
            DeliveredAtSend = Delivered,
            DeliveredTimeAtSend = DeliveredTime,
            FirstSentTimeAtSend = _firstSentTime,
            AppLimited = _appLimitedUntil > Delivered,
        };
    }

    /// <summary>The sender has nothing to send with room to send it: samples until what is in flight now is delivered are application-limited.</summary>
    public void OnAppLimited(long bytesInFlight) => _appLimitedUntil = Math.Max(Delivered + bytesInFlight, 1);

    /// <summary>
    /// Applies the packets one ACK acknowledged (oldest first) at <paramref name="now"/>; returns the
    /// rate sample in bytes per second and the RTT of the newest, or null when there is no valid sample.
    /// </summary>
    public RateSample? OnAck(IReadOnlyList<SentPacket> acknowledged, long now)
    {
        SentPacket? newest = null;
        foreach (var packet in acknowledged)
        {
            Delivered += packet.Size;
            DeliveredTime = now;
            if (newest is null || packet.DeliveredAtSend >= newest.Value.DeliveredAtSend)
            {
                newest = packet;
                _firstSentTime = packet.SentAt;
            }
        }

        if (_appLimitedUntil != 0 && Delivered > _appLimitedUntil)
        {
            _appLimitedUntil = 0;
        }

        if (newest is not { } prior)
        {
            return null;
        }

        long sendElapsed = prior.SentAt - prior.FirstSentTimeAtSend;
        long ackElapsed = DeliveredTime - prior.DeliveredTimeAtSend;
        long interval = Math.Max(sendElapsed, ackElapsed);
        long delivered = Delivered - prior.DeliveredAtSend;
        long rtt = now - prior.SentAt;
        if (interval < rtt / 4 || interval <= 0 || delivered <= 0)
        {
            return null; // too short to mean anything (the draft's lower bound on the interval is min_rtt)
        }

        return new RateSample(delivered * 1_000_000 / interval, rtt, prior.AppLimited, delivered, prior.DeliveredAtSend);
    }
}

/// <summary>One delivery-rate sample: bytes per second, the RTT it came with, whether the sender was application-limited, and the delivery counts it spans.</summary>
internal readonly record struct RateSample(long BytesPerSecond, long Rtt, bool AppLimited, long Delivered, long PriorDelivered);
