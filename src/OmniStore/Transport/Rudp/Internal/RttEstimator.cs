namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// Round-trip time as RFC 9002 section 5 estimates it: the latest sample, the minimum, and the
/// smoothed RTT and its variation (weights 1/8 and 1/4), with the peer's reported ack delay
/// subtracted when that keeps the sample at or above the minimum. Times in microseconds.
/// </summary>
internal sealed class RttEstimator
{
    /// <summary>The RTT assumed before any sample (RFC 9002 section 6.2.2: 333 ms).</summary>
    public const long InitialRtt = 333_000;

    /// <summary>The timer granularity (RFC 9002 section 6.1.2: 1 ms).</summary>
    public const long Granularity = 1_000;

    public RttEstimator()
    {
        Smoothed = InitialRtt;
        Variation = InitialRtt / 2;
    }

    public bool HasSample { get; private set; }

    public long Latest { get; private set; }

    public long Min { get; private set; }

    public long Smoothed { get; private set; }

    public long Variation { get; private set; }

    /// <summary>Adds a sample: the time from sending the largest newly acknowledged packet to its ack, and the delay the peer reported.</summary>
    public void Update(long latestRtt, long ackDelay, long maxAckDelay)
    {
        latestRtt = Math.Max(latestRtt, 1);
        Latest = latestRtt;
        if (!HasSample)
        {
            HasSample = true;
            Min = latestRtt;
            Smoothed = latestRtt;
            Variation = latestRtt / 2;
            return;
        }

        Min = Math.Min(Min, latestRtt);
        ackDelay = Math.Clamp(ackDelay, 0, maxAckDelay);
        long adjusted = latestRtt >= Min + ackDelay ? latestRtt - ackDelay : latestRtt;
        Variation = ((3 * Variation) + Math.Abs(Smoothed - adjusted)) / 4;
        Smoothed = ((7 * Smoothed) + adjusted) / 8;
    }

    /// <summary>The probe timeout before backing off (RFC 9002 section 6.2.1).</summary>
    public long ProbeTimeout(long maxAckDelay) => Smoothed + Math.Max(4 * Variation, Granularity) + maxAckDelay;

    /// <summary>How old an unacknowledged packet may be, once a later one was acknowledged, before it counts as lost (section 6.1.2: 9/8 of the larger of smoothed and latest).</summary>
    public long LossDelay => Math.Max(Math.Max(Smoothed, Latest) * 9 / 8, Granularity);
}
