using System.Diagnostics;

namespace OmniStore.Lab.Wire;

/// <summary>CLOCK_MONOTONIC in nanoseconds, the clock ppoll's timeouts run on.</summary>
internal static class MonotonicClock
{
    private static readonly bool IsNanoseconds = Stopwatch.Frequency == 1_000_000_000;
    private static readonly double NanosecondsPerTick = 1e9 / Stopwatch.Frequency;

    public static long Nanoseconds()
    {
        var ticks = Stopwatch.GetTimestamp();
        return IsNanoseconds ? ticks : (long)(ticks * NanosecondsPerTick);
    }
}
