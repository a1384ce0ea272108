namespace OmniStore.Lab.Wire;

/// <summary>What one direction of a wire does to each packet. Immutable: a change swaps the whole object.</summary>
internal sealed class WireConditions
{
    public static readonly WireConditions Transparent = new(0, 0, 0, 1);

    public WireConditions(long delayNanoseconds, long jitterNanoseconds, double loss, ulong seed)
    {
        if (delayNanoseconds < 0 || jitterNanoseconds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(delayNanoseconds), "Delay and jitter must not be negative.");
        }

        if (!(loss is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(loss), "Loss must be within 0..1.");
        }

        DelayNanoseconds = delayNanoseconds;
        JitterNanoseconds = jitterNanoseconds;
        Loss = loss;
        Seed = seed;
        // A draw of 64 random bits below this is a loss: one integer compare per packet.
        LossThreshold = loss >= 1 ? ulong.MaxValue : (ulong)(loss * 18446744073709551616.0);
    }

    public long DelayNanoseconds { get; }

    public long JitterNanoseconds { get; }

    public double Loss { get; }

    public ulong Seed { get; }

    public ulong LossThreshold { get; }

    /// <summary>True when every packet goes straight through: no queue, no random draws.</summary>
    public bool IsTransparent => DelayNanoseconds == 0 && JitterNanoseconds == 0 && Loss == 0;
}
