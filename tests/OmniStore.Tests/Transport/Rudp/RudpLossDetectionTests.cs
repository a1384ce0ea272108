using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>RTT estimation and loss detection as RFC 9002 sections 5 and 6 define them (times in microseconds).</summary>
public sealed class RudpLossDetectionTests
{
    private const long MaxAckDelay = 25_000;

    [Fact]
    public void TheFirstSample_SetsEverything_AndLaterOnesSmoothWithTheAckDelaySubtracted()
    {
        var rtt = new RttEstimator();
        Assert.Equal(RttEstimator.InitialRtt, rtt.Smoothed);

        rtt.Update(100_000, ackDelay: 5_000, MaxAckDelay);
        Assert.Equal((100_000L, 100_000L, 50_000L), (rtt.Min, rtt.Smoothed, rtt.Variation));

        // 120 ms with 10 ms of ack delay: adjusted to 110 ms (still above the 100 ms minimum).
        rtt.Update(120_000, ackDelay: 10_000, MaxAckDelay);
        Assert.Equal(40_000, rtt.Variation);   // (3 x 50 + |100 - 110|) / 4
        Assert.Equal(101_250, rtt.Smoothed);   // (7 x 100 + 110) / 8
        Assert.Equal(120_000, rtt.Latest);

        // An ack delay that would take the sample under the minimum is not subtracted; one above the maximum is capped.
        var other = new RttEstimator();
        other.Update(100_000, 0, MaxAckDelay);
        other.Update(104_000, ackDelay: 10_000, MaxAckDelay);
        Assert.Equal((7 * 100_000 + 104_000) / 8, other.Smoothed);
        var capped = new RttEstimator();
        capped.Update(100_000, 0, MaxAckDelay);
        capped.Update(200_000, ackDelay: 90_000, MaxAckDelay);
        Assert.Equal((7 * 100_000 + 175_000) / 8, capped.Smoothed);

        Assert.Equal(rtt.Smoothed + (4 * rtt.Variation) + MaxAckDelay, rtt.ProbeTimeout(MaxAckDelay));
    }

    [Fact]
    public void APacketThreeBelowTheLargestAcknowledged_IsLost_AndYoungerOnesWhenTheirTimeComes()
    {
        var rtt = new RttEstimator();
        var detector = new LossDetector(rtt);
        for (int n = 0; n < 10; n++)
        {
            detector.OnSent(Packet(n, sentAt: n * 1_000));
        }

        var acked = new List<SentPacket>();
        var lost = new List<SentPacket>();
        Assert.True(detector.OnAck([new AckRange(5, 5)], 0, MaxAckDelay, now: 100_000, acked, lost));

        Assert.Equal([5L], acked.Select(p => p.Number));
        Assert.Equal(95_000, rtt.Latest);
        Assert.Equal([0L, 1L, 2L], lost.Select(p => p.Number)); // 5 - 3 and below
        long lossDelay = 95_000 * 9 / 8;
        Assert.Equal(3_000 + lossDelay, detector.LossTime());   // packet 3, by time

        lost.Clear();
        detector.DetectLost(3_000 + lossDelay - 1, lost);
        Assert.Empty(lost);
        detector.DetectLost(4_000 + lossDelay, lost);
        Assert.Equal([3L, 4L], lost.Select(p => p.Number));
        Assert.Null(detector.LossTime()); // 6-9 are above the largest acknowledged
        Assert.Equal(4, detector.PacketsInFlight);
        Assert.Equal(4 * 1200, detector.BytesInFlight);
    }

    [Fact]
    public void AnAckWithRanges_AcknowledgesEachRange_AndTheGapsBelowTheThresholdAreLost()
    {
        var detector = new LossDetector(new RttEstimator());
        for (int n = 0; n <= 20; n++)
        {
            detector.OnSent(Packet(n, sentAt: 0));
        }

        var acked = new List<SentPacket>();
        var lost = new List<SentPacket>();
        Assert.True(detector.OnAck([new AckRange(15, 20), new AckRange(5, 10)], 0, MaxAckDelay, now: 50_000, acked, lost));

        Assert.Equal(Enumerable.Range(5, 6).Concat(Enumerable.Range(15, 6)).Select(n => (long)n), acked.Select(p => p.Number));
        Assert.Equal(Enumerable.Range(0, 5).Concat(Enumerable.Range(11, 4)).Select(n => (long)n), lost.Select(p => p.Number));
        Assert.Equal(0, detector.PacketsInFlight);
    }

    [Fact]
    public void ADuplicateAck_ChangesNothing_AndAnAckOfAPacketNeverSent_IsRefused()
    {
        var rtt = new RttEstimator();
        var detector = new LossDetector(rtt);
        detector.OnSent(Packet(0, sentAt: 0));
        detector.OnSent(Packet(1, sentAt: 0));
        var acked = new List<SentPacket>();
        var lost = new List<SentPacket>();
        Assert.True(detector.OnAck([new AckRange(1, 1)], 0, MaxAckDelay, now: 30_000, acked, lost));
        long smoothed = rtt.Smoothed;

        acked.Clear();
        Assert.True(detector.OnAck([new AckRange(1, 1)], 0, MaxAckDelay, now: 90_000, acked, lost));
        Assert.Empty(acked);
        Assert.Equal(smoothed, rtt.Smoothed); // no sample from a duplicate

        Assert.False(detector.OnAck([new AckRange(0, 7)], 0, MaxAckDelay, now: 90_000, acked, lost));
        Assert.Throws<InvalidOperationException>(() => detector.OnSent(Packet(1, sentAt: 100_000)));
    }

    private static SentPacket Packet(long number, long sentAt) =>
        new(number, sentAt, Size: 1200, AckEliciting: true, StreamOffset: number * 1100, StreamLength: 1100, Fin: false, DeliveredAtSend: 0, DeliveredTimeAtSend: 0, AppLimited: false);
}
