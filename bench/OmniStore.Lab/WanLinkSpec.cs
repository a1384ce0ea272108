namespace OmniStore.Lab;

/// <summary>
/// The WAN link between a site and the WAN core: a rate (tc tbf on each end's device), and a delay,
/// jitter and loss that the wire applies to each direction on its own.
/// </summary>
/// <remarks>
/// A packet sent up from a site waits for the link's rate first (serialization, in a queue of
/// <see cref="QueueBytes"/>), then crosses the wire (loss, then delay and jitter), as on a real
/// link. The round-trip time between two sites is twice the sum of their links' delays.
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
    /// but a packet never leaves before the one ahead of it: the wire does not reorder. On a busy link
    /// that bunches packets behind a slow one, so the mean delay moves toward Delay + Jitter.
    /// Defaults to zero.
    /// </summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Probability (0..1) that the wire drops a packet, drawn independently per packet and direction. Defaults to zero.</summary>
    public double Loss { get; init; }

    /// <summary>
    /// Bytes the rate limiter queues before it drops (the link's buffer). Defaults to null: 100 ms at
    /// the link's rate, at least 64 KiB. A buffer far below the path's bandwidth-delay product keeps
    /// one TCP flow from filling the link; far above it adds queueing delay.
    /// </summary>
    public int? QueueBytes { get; init; }

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

        if (QueueBytes is < 3000)
        {
            throw new ArgumentException($"{argumentName}.{nameof(QueueBytes)} must hold two full packets (3000 bytes) at least.", argumentName);
        }
    }
}
