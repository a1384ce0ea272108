using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>One sender (BBR unless another controller is given), one bottleneck: packets queue at the bottleneck (dropped when its buffer is full, or at random), acks come back after the path's delay.</summary>
internal static class RudpPathSimulation
{
    private const int Mss = 1200;

    /// <summary>Goodput is counted from here on, as iperf3's --omit leaves out the start.</summary>
    private const long Omit = 2_000_000;

    public readonly record struct Result(double Goodput, long Bandwidth, double MeanQueueDelay, long InflightHigh, string State, long Window, long Pacing, long MinRtt);

    public static Result Run(long rate, long rtt, double loss, double seconds, double bufferBdps, Func<RttEstimator, ICongestionController>? controller = null)
    {
        var random = new Random(2026);
        long end = (long)(seconds * 1_000_000);
        long buffer = Math.Max((long)(bufferBdps * rate * rtt / 1_000_000), 10L * Mss);
        var rttEstimator = new RttEstimator();
        var detector = new LossDetector(rttEstimator);
        var sampler = new DeliveryRateSampler();
        var controlled = controller?.Invoke(rttEstimator) ?? new Bbr(Mss, 0); // the congestion controller under test
        var events = new PriorityQueue<(long Packet, bool Ack), long>();
        long now = 0, nextSend = 0, linkFree = 0, number = 0, deliveredBytes = 0, queueDelaySum = 0, queueDelayCount = 0;
        var acked = new List<SentPacket>();
        var lost = new List<SentPacket>();

        while (now < end)
        {
            // Send while the window and the pacing allow.
            while (nextSend <= now && detector.BytesInFlight + Mss <= controlled.CongestionWindow)
            {
                var packet = sampler.Stamp(new SentPacket(number, 0, Mss, true, 0, Mss, false, 0, 0, false), now, detector.BytesInFlight);
                detector.OnSent(packet);
                nextSend = Math.Max(nextSend, now) + (Mss * 1_000_000L / Math.Max(controlled.PacingRate, 1));
                // The bottleneck: drop-tail buffer, random loss, serialization at the rate.
                long queueBytes = Math.Max(0, (linkFree - now) * rate / 1_000_000);
                if (queueBytes + Mss <= buffer && random.NextDouble() >= loss)
                {
                    long start = Math.Max(now, linkFree);
                    linkFree = start + (Mss * 1_000_000L / rate);
                    queueDelaySum += start - now;
                    queueDelayCount++;
                    events.Enqueue((number, false), linkFree + (rtt / 2));
                }

                number++;
            }

            // The next event: an arrival, an ack, a send time, or the loss timer.
            long next = end;
            if (events.TryPeek(out _, out long eventTime))
            {
                next = Math.Min(next, eventTime);
            }

            if (detector.BytesInFlight + Mss <= controlled.CongestionWindow)
            {
                next = Math.Min(next, Math.Max(nextSend, now + 1));
            }

            if (detector.LossTime() is { } lossTime)
            {
                next = Math.Min(next, Math.Max(lossTime, now + 1));
            }

            long pto = rttEstimator.ProbeTimeout(25_000);
            next = Math.Min(next, now + pto);
            now = Math.Max(next, now + 1);

            while (events.TryPeek(out var e, out long at) && at <= now)
            {
                events.Dequeue();
                if (!e.Ack)
                {
                    deliveredBytes += at >= Omit ? Mss : 0; // arrived at the receiver: goodput, after the start
                    events.Enqueue((e.Packet, true), at + (rtt / 2));
                    continue;
                }

                acked.Clear();
                lost.Clear();
                detector.OnAck([new AckRange(e.Packet, e.Packet)], 0, 25_000, at, acked, lost);
                var sample = sampler.OnAck(acked, at);
                controlled.OnAck(acked, sample, rttEstimator.Min, at, detector.BytesInFlight);
                if (lost.Count > 0)
                {
                    controlled.OnLoss(lost, at, detector.BytesInFlight);
                }
            }

            lost.Clear();
            detector.DetectLost(now, lost);
            if (lost.Count > 0)
            {
                controlled.OnLoss(lost, now, detector.BytesInFlight);
            }
        }

        return new Result(deliveredBytes / (seconds - (Omit / 1e6)), (controlled as Bbr)?.Bandwidth ?? 0, queueDelayCount == 0 ? 0 : (double)queueDelaySum / queueDelayCount, (controlled as Bbr)?.InflightHigh ?? long.MaxValue, controlled.State, controlled.CongestionWindow, controlled.PacingRate, rttEstimator.Min);
    }
}

