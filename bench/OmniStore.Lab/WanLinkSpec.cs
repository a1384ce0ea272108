namespace OmniStore.Lab;

/// <summary>
/// The WAN link between a site and the WAN core: a rate (tc tbf on each end's device), and a delay,
/// jitter, loss, duplication and reordering that the wire applies to each direction on its own.
/// </summary>
/// <remarks>
/// A packet sent up from a site waits for the link's rate first (serialization, in a queue of
/// <see cref="QueueBytes"/>), then crosses the wire (loss, then duplication, then reordering, then
/// delay and jitter), as on a real link. The round-trip time between two sites is twice the sum of
/// their links' delays.
/// </remarks>
public sealed record WanLinkSpec
{
    /// <summary>Bits per second in each direction, counted in IP bytes; null for no limit (the wire's own ceiling). Defaults to null.</summary>
    public long? RateBitsPerSecond { get; init; }

    /// <summary>Bits per second from the site toward the WAN, when it differs from <see cref="RateBitsPerSecond"/> (an asymmetric access link). Defaults to null: the same.</summary>
    public long? UploadRateBitsPerSecond { get; init; }

    /// <summary>One-way delay added to each direction. Defaults to zero.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>
    /// Each packet's delay is drawn uniformly from <see cref="Delay"/> ± this (never below zero),
    /// but a packet never leaves before the one ahead of it: jitter does not reorder (only
    /// <see cref="Reorder"/> does). On a busy link that bunches packets behind a slow one, so the mean
    /// delay moves toward Delay + Jitter. Defaults to zero.
    /// </summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Probability (0..1) that the wire drops a packet, drawn independently per packet and direction. Defaults to zero.</summary>
    public double Loss { get; init; }

    /// <summary>
    /// Probability (0..1) that the wire delivers a packet twice, back to back, drawn independently per
    /// packet and direction (after loss: a lost packet is not duplicated). The copy is made after the
    /// rate limit, so it adds to the bytes the link carries. Defaults to zero.
    /// </summary>
    public double Duplicate { get; init; }

    /// <summary>
    /// Probability (0..1) that the wire holds a packet back by <see cref="ReorderDelay"/> on top of its
    /// delay and jitter, drawn independently per packet and direction, while the packets behind it keep
    /// their own release times: whatever the direction sends within that time overtakes it. A packet
    /// with nothing behind it within <see cref="ReorderDelay"/> is only delayed. Defaults to zero: the
    /// wire never reorders.
    /// </summary>
    public double Reorder { get; init; }

    /// <summary>How long a packet chosen by <see cref="Reorder"/> is held back (above zero, at most 10 s). Defaults to 1 ms.</summary>
    public TimeSpan ReorderDelay { get; init; } = DefaultReorderDelay;

    /// <summary>
    /// Bytes the rate limiter queues before it drops (the link's buffer). Defaults to null: 100 ms at
    /// the link's rate, at least 64 KiB. A buffer far below the path's bandwidth-delay product keeps
    /// one TCP flow from filling the link; far above it adds queueing delay.
    /// </summary>
    public int? QueueBytes { get; init; }

    /// <summary>The default of <see cref="ReorderDelay"/>: 1 ms.</summary>
    public static TimeSpan DefaultReorderDelay { get; } = TimeSpan.FromMilliseconds(1);

    /// <summary>A link with no limit, delay or loss.</summary>
    public static WanLinkSpec Unlimited { get; } = new();

    /// <summary>Bits per second from the site toward the WAN, or null for no limit.</summary>
    public long? UploadRate => UploadRateBitsPerSecond ?? RateBitsPerSecond;

    /// <summary>Bits per second from the WAN toward the site, or null for no limit.</summary>
    public long? DownloadRate => RateBitsPerSecond;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting that is out of range.</summary>
    public void Validate(string argumentName = "link")
    {
        if (RateBitsPerSecond is <= 0)
        {
            throw new ArgumentException($"{argumentName}.{nameof(RateBitsPerSecond)} must be positive (or null for no limit).", argumentName);
        }

        if (UploadRateBitsPerSecond is <= 0)
        {
            throw new ArgumentException($"{argumentName}.{nameof(UploadRateBitsPerSecond)} must be positive (or null).", argumentName);
        }

        if (Delay < TimeSpan.Zero || Delay > TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException($"{argumentName}.{nameof(Delay)} must be within 0..10 s.", argumentName);
        }

        if (Jitter < TimeSpan.Zero || Jitter > TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException($"{argumentName}.{nameof(Jitter)} must be within 0..10 s.", argumentName);
        }

        if (!(Loss is >= 0 and <= 1))
        {
            throw new ArgumentException($"{argumentName}.{nameof(Loss)} must be within 0..1.", argumentName);
        }

        if (!(Duplicate is >= 0 and <= 1))
        {
            throw new ArgumentException($"{argumentName}.{nameof(Duplicate)} must be within 0..1.", argumentName);
        }

        if (!(Reorder is >= 0 and <= 1))
        {
            throw new ArgumentException($"{argumentName}.{nameof(Reorder)} must be within 0..1.", argumentName);
        }

        if (ReorderDelay <= TimeSpan.Zero || ReorderDelay > TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException($"{argumentName}.{nameof(ReorderDelay)} must be above zero and at most 10 s.", argumentName);
        }

        if (QueueBytes is < 3000)
        {
            throw new ArgumentException($"{argumentName}.{nameof(QueueBytes)} must hold two full packets (3000 bytes) at least.", argumentName);
        }
    }
}
