using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// BBR against a simulated path (a bottleneck of a given rate and buffer, a propagation delay,
/// random loss): it finds the bandwidth, fills the link, keeps the queue short, and does not
/// collapse under random loss where loss-based control would. The simulation is event-driven and
/// exact (no wall clock), so these are not timing tests.
/// </summary>
public sealed class RudpBbrTests
{
    private const int Mss = 1200;

    [Theory]
    [InlineData(12_500_000L, 40_000L, 0.0)]    // 100 Mbit/s, 40 ms
    [InlineData(125_000_000L, 40_000L, 0.0)]   // 1 Gbit/s, 40 ms
    [InlineData(12_500_000L, 200_000L, 0.0)]   // 100 Mbit/s, 200 ms
    public void OnACleanPath_ItFindsTheBandwidth_AndFillsTheLink(long rate, long rtt, double loss)
    {
        var result = PathSimulation.Run(rate, rtt, loss, seconds: rate > 50_000_000 ? 3 : 10, bufferBdps: 1.0);

        Assert.True(result.Bandwidth >= rate * 0.9 && result.Bandwidth <= rate * 1.1, $"bandwidth estimate {result.Bandwidth:N0} B/s of {rate:N0}: {result}");
        Assert.True(result.Goodput >= 0.9 * rate, $"goodput {result.Goodput:N0} B/s of a {rate:N0} B/s link");
        Assert.True(result.MeanQueueDelay < rtt, $"mean queueing delay {result.MeanQueueDelay} us on a {rtt} us path: BBR keeps the queue short");
    }

    [Theory]
    [InlineData(0.01)]
    [InlineData(0.001)]
    public void RandomLoss_DoesNotCollapseTheRate(double loss)
    {
        const long Rate = 12_500_000;
        var result = PathSimulation.Run(Rate, 40_000, loss, seconds: 10, bufferBdps: 1.0);

        Assert.True(result.Goodput >= 0.85 * Rate * (1 - loss), $"goodput {result.Goodput:N0} B/s with {loss:P1} random loss on a {Rate:N0} B/s link");
    }

    [Fact]
    public void HeavyLoss_BoundsWhatIsInFlight()
    {
        var result = PathSimulation.Run(12_500_000, 40_000, 0.10, seconds: 5, bufferBdps: 1.0);

        Assert.True(result.InflightHigh < long.MaxValue, "a path losing 10% of its packets sets the bound on data in flight");
        Assert.True(result.Goodput > 0, "and data still gets through");
    }

    /// <summary>One sender, one bottleneck: packets queue at the bottleneck (dropped when its buffer is full, or at random), acks come back after the path's delay.</summary>
    private static class PathSimulation
    {
        /// <summary>Goodput is counted from here on, as iperf3's --omit leaves out the start.</summary>
        private const long Omit = 2_000_000;

        public readonly record struct Result(double Goodput, long Bandwidth, double MeanQueueDelay, long InflightHigh, string State, long Window, long Pacing, long MinRtt);

        public static Result Run(long rate, long rtt, double loss, double seconds, double bufferBdps)
        {
            var random = new Random(2026);
            long end = (long)(seconds * 1_000_000);
            long buffer = Math.Max((long)(bufferBdps * rate * rtt / 1_000_000), 10L * Mss);
            var rttEstimator = new RttEstimator();
            var detector = new LossDetector(rttEstimator);
            var sampler = new DeliveryRateSampler();
            var bbr = new Bbr(Mss, 0);
            var events = new PriorityQueue<(long Packet, bool Ack), long>();
            long now = 0, nextSend = 0, linkFree = 0, number = 0, deliveredBytes = 0, queueDelaySum = 0, queueDelayCount = 0;
            var acked = new List<SentPacket>();
            var lost = new List<SentPacket>();

            while (now < end)
            {
                // Send while the window and the pacing allow.
                while (nextSend <= now && detector.BytesInFlight + Mss <= bbr.CongestionWindow)
                {
                    var packet = sampler.Stamp(new SentPacket(number, 0, Mss, true, 0, Mss, false, 0, 0, false), now, detector.BytesInFlight);
                    detector.OnSent(packet);
                    nextSend = Math.Max(nextSend, now) + (Mss * 1_000_000L / Math.Max(bbr.PacingRate, 1));
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

                if (detector.BytesInFlight + Mss <= bbr.CongestionWindow)
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
                    bbr.OnAck(acked, sample, rttEstimator.Min, at, detector.BytesInFlight);
                    if (lost.Count > 0)
                    {
                        bbr.OnLoss(lost, at, detector.BytesInFlight);
                    }
                }

                lost.Clear();
                detector.DetectLost(now, lost);
                if (lost.Count > 0)
                {
                    bbr.OnLoss(lost, now, detector.BytesInFlight);
                }
            }

            return new Result(deliveredBytes / (seconds - (Omit / 1e6)), bbr.Bandwidth, queueDelayCount == 0 ? 0 : (double)queueDelaySum / queueDelayCount, bbr.InflightHigh, bbr.State, bbr.CongestionWindow, bbr.PacingRate, rttEstimator.Min);
        }
    }
}
