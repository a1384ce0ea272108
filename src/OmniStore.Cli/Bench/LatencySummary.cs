using System.Diagnostics;

namespace OmniStore.Cli.Bench;

/// <summary>
/// The latencies of a run's operations, summarised: count, median, 99th percentile, maximum and
/// mean, in microseconds. Percentiles are nearest-rank over every recorded latency (no buckets), so
/// p99 of 100 values is the 99th smallest.
/// </summary>
internal readonly record struct LatencySummary(int Count, double P50Microseconds, double P99Microseconds, double MaxMicroseconds, double MeanMicroseconds)
{
    /// <summary>
    /// Summarises the first <paramref name="count"/> entries of <paramref name="timestampTicks"/>,
    /// <see cref="Stopwatch"/> ticks; sorts them in place.
    /// </summary>
    public static LatencySummary FromTicks(long[] timestampTicks, int count)
    {
        ArgumentNullException.ThrowIfNull(timestampTicks);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, timestampTicks.Length);
        if (count == 0)
        {
            return default;
        }

        var sorted = timestampTicks.AsSpan(0, count);
        sorted.Sort();
        double sum = 0;
        foreach (long ticks in sorted)
        {
            sum += ticks;
        }

        return new LatencySummary(
            count,
            ToMicroseconds(Percentile(sorted, 50)),
            ToMicroseconds(Percentile(sorted, 99)),
            ToMicroseconds(sorted[^1]),
            ToMicroseconds(sum / count));
    }

    /// <summary>
    /// The nearest-rank <paramref name="percent"/>th percentile of <paramref name="sorted"/> (ascending,
    /// not empty): the smallest value at least that percent of the values are at or below.
    /// </summary>
    public static long Percentile(ReadOnlySpan<long> sorted, double percent)
    {
        if (sorted.IsEmpty)
        {
            throw new ArgumentException("No values to take a percentile of.", nameof(sorted));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(percent, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percent, 100);
        int rank = (int)Math.Ceiling(percent / 100 * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    private static double ToMicroseconds(double ticks) => ticks * 1_000_000 / Stopwatch.Frequency;
}
