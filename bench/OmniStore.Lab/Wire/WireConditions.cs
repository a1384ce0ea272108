namespace OmniStore.Lab.Wire;

/// <summary>What one direction of a wire does to each packet. Immutable: a change swaps the whole object.</summary>
internal sealed class WireConditions
{
    public static readonly WireConditions Transparent = new(0, 0, 0, 0, 0, 0, 1);

    public WireConditions(long delayNanoseconds, long jitterNanoseconds, double loss, double duplicate, double reorder, long reorderDelayNanoseconds, ulong seed)
    {
        if (delayNanoseconds < 0 || jitterNanoseconds < 0 || reorderDelayNanoseconds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(delayNanoseconds), "Delay, jitter and reorder delay must not be negative.");
        }

        if (!(loss is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(loss), "Loss must be within 0..1.");
        }

        if (!(duplicate is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(duplicate), "Duplicate must be within 0..1.");
        }

        if (!(reorder is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(reorder), "Reorder must be within 0..1.");
        }

        DelayNanoseconds = delayNanoseconds;
        JitterNanoseconds = jitterNanoseconds;
        Loss = loss;
        Duplicate = duplicate;
        Reorder = reorder;
        ReorderDelayNanoseconds = reorderDelayNanoseconds;
        Seed = seed;
        // A draw of 64 random bits below a threshold is a hit: one integer compare per packet. A zero
        // threshold draws nothing, so a link without duplication or reordering uses the generator as
        // it did before they existed, and a seed repeats the same losses and jitter.
        LossThreshold = Threshold(loss);
        DuplicateThreshold = Threshold(duplicate);
        ReorderThreshold = Threshold(reorder);
    }

    public long DelayNanoseconds { get; }

    public long JitterNanoseconds { get; }

    public double Loss { get; }

    public double Duplicate { get; }

    public double Reorder { get; }

    public long ReorderDelayNanoseconds { get; }

    public ulong Seed { get; }

    public ulong LossThreshold { get; }

    public ulong DuplicateThreshold { get; }

    public ulong ReorderThreshold { get; }

    /// <summary>True when every packet goes straight through: no queue, no random draws.</summary>
    public bool IsTransparent => DelayNanoseconds == 0 && JitterNanoseconds == 0 && Loss == 0 && Duplicate == 0 && Reorder == 0;

    private static ulong Threshold(double probability) => probability >= 1 ? ulong.MaxValue : (ulong)(probability * 18446744073709551616.0);
}
