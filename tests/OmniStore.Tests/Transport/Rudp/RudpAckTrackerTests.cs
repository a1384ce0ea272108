using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>The receiver's side of acknowledgment: ranges, duplicates, and when an ACK is due (RFC 9000 section 13.2).</summary>
public sealed class RudpAckTrackerTests
{
    private const long MaxAckDelay = 25_000;

    [Fact]
    public void PacketsInAnyOrder_BecomeRangesNewestFirst_AndDuplicatesAreRefused()
    {
        var tracker = new AckTracker(MaxAckDelay);
        foreach (long n in new long[] { 0, 1, 2, 5, 6, 9, 4, 8 })
        {
            Assert.True(tracker.OnReceived(n, ackEliciting: true, now: 0));
        }

        Assert.Equal([new AckRange(8, 9), new AckRange(4, 6), new AckRange(0, 2)], tracker.Ranges);
        Assert.False(tracker.OnReceived(5, true, 0));
        Assert.False(tracker.OnReceived(0, true, 0));

        Assert.True(tracker.OnReceived(3, true, 0)); // fills the gap between two ranges
        Assert.True(tracker.OnReceived(7, true, 0));
        Assert.Equal([new AckRange(0, 9)], tracker.Ranges);
        Assert.Equal(9, tracker.Largest);
    }

    [Fact]
    public void AtMost32RangesAreKept_TheOldestForgotten()
    {
        var tracker = new AckTracker(MaxAckDelay);
        for (long n = 0; n < 100; n += 2)
        {
            tracker.OnReceived(n, true, 0);
        }

        Assert.Equal(AckTracker.MaxRanges, tracker.Ranges.Count);
        Assert.Equal(98, tracker.Ranges[0].Largest);
        Assert.Equal(98 - (2 * (AckTracker.MaxRanges - 1)), tracker.Ranges[^1].Smallest);
        Assert.False(tracker.OnReceived(1, true, 0)); // older than every range kept
    }

    [Fact]
    public void AnAckIsDue_AfterTheMaxDelay_AtOnceAfterTwoPackets_AndAtOnceAfterAGap()
    {
        var tracker = new AckTracker(MaxAckDelay);
        Assert.Null(tracker.AckDueAt(0));

        tracker.OnReceived(0, ackEliciting: true, now: 1_000);
        Assert.Equal(1_000 + MaxAckDelay, tracker.AckDueAt(2_000));
        tracker.OnReceived(1, ackEliciting: true, now: 3_000);
        Assert.Equal(4_000, tracker.AckDueAt(4_000)); // the second: at once
        Assert.Equal(1_000, tracker.AckDelay(4_000));
        tracker.OnAckSent();
        Assert.Null(tracker.AckDueAt(5_000));

        tracker.OnReceived(2, ackEliciting: false, now: 6_000); // an ACK-only packet asks for nothing
        Assert.Null(tracker.AckDueAt(6_000));

        tracker.OnReceived(5, ackEliciting: true, now: 7_000); // 3 and 4 missing
        Assert.Equal(7_000, tracker.AckDueAt(7_000));
    }

    [Fact]
    public void AfterTheFirst100Packets_AnAckIsDueAfterEveryTenth_OrAQuarterRttAfterTheFirst()
    {
        var tracker = new AckTracker(MaxAckDelay);
        long number = 0;
        for (int i = 0; i < AckTracker.EarlyPackets; i++)
        {
            tracker.OnReceived(number++, ackEliciting: true, now: 0);
            Assert.Equal(i % 2 == 1, tracker.AckDueAt(0) == 0);
            if (i % 2 == 1)
            {
                tracker.OnAckSent();
            }
        }

        tracker.OnRtt(40_000); // a quarter: 10 ms, shorter than max_ack_delay
        for (int i = 1; i <= AckTracker.LaterAckEvery; i++)
        {
            tracker.OnReceived(number++, ackEliciting: true, now: 1_000 * i);
            Assert.Equal(i == AckTracker.LaterAckEvery ? 1_000 * i : 1_000 + 10_000, tracker.AckDueAt(1_000 * i));
        }

        tracker.OnAckSent();
        tracker.OnRtt(1_000_000); // a quarter longer than max_ack_delay: max_ack_delay
        tracker.OnReceived(number++, ackEliciting: true, now: 50_000);
        Assert.Equal(50_000 + MaxAckDelay, tracker.AckDueAt(50_000));
        tracker.OnRtt(100); // a loopback RTT: no shorter than the timer granularity
        Assert.Equal(50_000 + AckTracker.MinDelay, tracker.AckDueAt(50_000));

        tracker.OnReceived(number + 1, ackEliciting: true, now: 51_000); // a gap: at once, as before
        Assert.Equal(51_000, tracker.AckDueAt(51_000));
    }
}
