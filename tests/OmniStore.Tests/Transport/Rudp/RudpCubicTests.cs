using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// CUBIC (RFC 9438) with HyStart++ (RFC 9406): the window's path after a congestion event against
/// the RFC's formulas, one reduction per round trip, fast convergence, the Reno-friendly region,
/// HyStart++ leaving slow start on a rising RTT; and on the simulated path, a full link when clean
/// and the collapse under random loss that makes BBR rudp's default. Exact event-driven time.
/// </summary>
public sealed class RudpCubicTests
{
    private const int Mss = 1200;

    /// <summary>A sender's acks, one window per round trip, at a fixed RTT (no queue).</summary>
    private sealed class Driver(long rtt)
    {
        public RttEstimator Rtt { get; } = new();

        public Cubic Cubic { get; private set; } = null!;

        public long Now { get; private set; }

        private long _number;
        private long _delivered;

        public Driver Start()
        {
            Cubic = new Cubic(Mss, Rtt);
            Rtt.Update(rtt, 0, 25_000);
            return this;
        }

        /// <summary>Sends a window, and a round trip later acks it (each packet its own ack), with <paramref name="sampleRtt"/> as the RTT seen.</summary>
        public void Round(long? sampleRtt = null)
        {
            long window = Cubic.CongestionWindow;
            long sentAt = Now;
            long deliveredAtSend = _delivered;
            var packets = new List<SentPacket>();
            for (long sent = 0; sent < window; sent += Mss)
            {
                packets.Add(new SentPacket(_number++, sentAt, Mss, true, 0, Mss, false, deliveredAtSend, sentAt, false));
            }

            Now += rtt;
            foreach (var packet in packets)
            {
                _delivered += Mss;
                Cubic.OnAck([packet], new RateSample(Mss * 1_000_000L / rtt, sampleRtt ?? rtt, false, _delivered, deliveredAtSend), rtt, Now, 0);
            }
        }

        /// <summary>A loss of a packet sent just now.</summary>
        public void Loss() => Cubic.OnLoss([new SentPacket(_number++, Now, Mss, true, 0, Mss, false, _delivered, Now, false)], Now, 0);

        /// <summary>A loss of a packet sent at <paramref name="sentAt"/>.</summary>
        public void LossOfPacketSentAt(long sentAt) => Cubic.OnLoss([new SentPacket(_number++, sentAt, Mss, true, 0, Mss, false, _delivered, sentAt, false)], Now, 0);
    }

    [Fact]
    public void SlowStart_DoublesTheWindowEachRoundTrip()
    {
        var driver = new Driver(100_000).Start();
        Assert.Equal(10L * Mss, driver.Cubic.CongestionWindow);
        for (int i = 1; i <= 4; i++)
        {
            driver.Round();
            Assert.Equal((10L << i) * Mss, driver.Cubic.CongestionWindow);
        }

        Assert.Equal("cubic/SlowStart", driver.Cubic.State);
    }

    [Fact]
    public void AfterALoss_TheWindowIsBetaOfIt_AndRegainsItAtK_AlongTheCubicCurve()
    {
        const long Rtt = 100_000;
        var driver = new Driver(Rtt).Start();
        for (int i = 0; i < 4; i++)
        {
            driver.Round(); // 160 segments
        }

        long before = driver.Cubic.CongestionWindow;
        driver.Loss();
        Assert.Equal((long)(before * Cubic.Beta), driver.Cubic.CongestionWindow);
        Assert.Equal(before / (double)Mss, driver.Cubic.WindowMax, 6);

        // One reduction per round trip: another loss of a packet sent before the reduction is the same event.
        driver.LossOfPacketSentAt(driver.Now - 1);
        Assert.Equal((long)(before * Cubic.Beta), driver.Cubic.CongestionWindow);

        // K = cbrt(W_max (1 - beta) / C): 160 segments -> cbrt(120) = 4.93 s.
        double k = Math.Cbrt(before / (double)Mss * (1 - Cubic.Beta) / Cubic.C);
        var windows = new List<(double T, double Segments)>();
        long epochStart = driver.Now;
        while (driver.Now - epochStart < (long)(2 * k * 1_000_000))
        {
            driver.Round();
            windows.Add(((driver.Now - epochStart) / 1e6, driver.Cubic.CongestionWindow / (double)Mss));
        }

        Assert.Equal(k, driver.Cubic.K, 2);
        double atK = windows.MinBy(w => Math.Abs(w.T - k)).Segments;
        Assert.InRange(atK, 0.95 * driver.Cubic.WindowMax, 1.08 * driver.Cubic.WindowMax);

        // Concave below W_max (growth slowing), convex above it (growth speeding up).
        var early = windows.Where(w => w.T < k * 0.8).ToList();
        var late = windows.Where(w => w.T > k * 1.2).ToList();
        Assert.True(early[1].Segments - early[0].Segments > early[^1].Segments - early[^2].Segments, "concave before K");
        Assert.True(late[^1].Segments - late[^2].Segments > late[1].Segments - late[0].Segments, "convex after K");
        Assert.Equal("cubic/CongestionAvoidance", driver.Cubic.State);
    }

    [Fact]
    public void ALossBelowThePreviousMaximum_ConvergesFast()
    {
        var driver = new Driver(100_000).Start();
        for (int i = 0; i < 4; i++)
        {
            driver.Round();
        }

        driver.Loss();
        driver.Round(); // out of recovery
        double w = driver.Cubic.CongestionWindow / (double)Mss;
        Assert.True(w < driver.Cubic.WindowMax);
        driver.Loss();
        Assert.Equal(w * (1 + Cubic.Beta) / 2, driver.Cubic.WindowMax, 6);
    }

    [Fact]
    public void OnAShortPath_ItGrowsAtLeastAsFastAsReno()
    {
        // 1 ms RTT, a small window: the cubic curve is nearly flat there, Reno's line is not.
        const long Rtt = 1_000;
        var driver = new Driver(Rtt).Start();
        driver.Round();
        driver.Round(); // 40 segments
        driver.Loss();  // 28
        driver.Round(); // recovery ends
        double start = driver.Cubic.CongestionWindow / (double)Mss;
        for (int i = 0; i < 20; i++)
        {
            driver.Round();
        }

        // Reno-friendly: alpha_cubic segments per round trip at least.
        double grown = (driver.Cubic.CongestionWindow / (double)Mss) - start;
        Assert.True(grown >= 20 * Cubic.RenoAlpha * 0.9, $"grew {grown:F1} segments in 20 round trips; Reno-friendly growth is {20 * Cubic.RenoAlpha:F1}");
        Assert.True(driver.Cubic.WCubic(20 * Rtt / 1e6) < start + (20 * Cubic.RenoAlpha), "the cubic curve alone would have grown less");
    }

    [Fact]
    public void HyStartPlusPlus_LeavesSlowStartWhenTheRttRises_BeforeAnyLoss()
    {
        var driver = new Driver(50_000).Start();
        driver.Round(50_000);
        driver.Round(50_000);
        driver.Round(60_000); // +10 ms > max(4 ms, 50/8 ms): conservative slow start
        Assert.Equal("cubic/ConservativeSlowStart", driver.Cubic.State);
        long inCss = driver.Cubic.CongestionWindow;
        driver.Round(60_000);
        Assert.True(driver.Cubic.CongestionWindow < 2 * inCss, "conservative slow start grows by a quarter of what slow start would");
        for (int i = 0; i < 6; i++)
        {
            driver.Round(60_000);
        }

        Assert.Equal("cubic/CongestionAvoidance", driver.Cubic.State);
        Assert.True(driver.Cubic.SlowStartThreshold < long.MaxValue, "HyStart++ set the threshold with no loss");
    }

    [Fact]
    public void HyStartPlusPlus_GoesBackToSlowStartWhenTheRttFallsAgain()
    {
        var driver = new Driver(50_000).Start();
        driver.Round(50_000);
        driver.Round(50_000);
        driver.Round(60_000);
        Assert.Equal("cubic/ConservativeSlowStart", driver.Cubic.State);
        driver.Round(50_000);
        Assert.Equal("cubic/SlowStart", driver.Cubic.State);
    }

    [Fact]
    public void OnACleanPath_ItFillsTheLink()
    {
        const long Rate = 12_500_000; // 100 Mbit/s, 40 ms, a buffer of one BDP
        var result = RudpPathSimulation.Run(Rate, 40_000, 0, seconds: 10, bufferBdps: 1.0, rtt => new Cubic(Mss, rtt));
        Assert.True(result.Goodput >= 0.9 * Rate, $"goodput {result.Goodput:N0} B/s of a {Rate:N0} B/s link: {result}");
    }

    [Fact]
    public void RandomLoss_CollapsesIt_WhereBbrHoldsTheRate()
    {
        // Why BBR is the default: 1% random loss on a 100 Mbit/s, 40 ms path.
        const long Rate = 12_500_000;
        var cubic = RudpPathSimulation.Run(Rate, 40_000, 0.01, seconds: 10, bufferBdps: 1.0, rtt => new Cubic(Mss, rtt));
        var bbr = RudpPathSimulation.Run(Rate, 40_000, 0.01, seconds: 10, bufferBdps: 1.0);
        Assert.True(cubic.Goodput < 0.5 * Rate, $"CUBIC kept {cubic.Goodput:N0} B/s of {Rate:N0} under 1% loss");
        Assert.True(bbr.Goodput > 2 * cubic.Goodput, $"BBR {bbr.Goodput:N0} B/s against CUBIC's {cubic.Goodput:N0}");
    }
}
