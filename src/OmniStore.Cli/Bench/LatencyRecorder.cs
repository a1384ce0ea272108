using System.Diagnostics;

namespace OmniStore.Cli.Bench;

/// <summary>
/// Hands out at most <see cref="Capacity"/> operation slots to concurrent clients and keeps each
/// operation's latency in a slot of one array allocated up front, so that recording allocates
/// nothing and the bound on the operation count is the same counter. A failed operation leaves its
/// slot out of the latencies and counts as an error.
/// </summary>
internal sealed class LatencyRecorder
{
    private const long FailedMark = -1;

    private readonly long[] _ticks;
    private int _claimed;
    private int _errors;

    public LatencyRecorder(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _ticks = new long[capacity];
    }

    /// <summary>The most operations the recorder hands out slots for.</summary>
    public int Capacity => _ticks.Length;

    /// <summary>Slots handed out so far (at most <see cref="Capacity"/>).</summary>
    public int Claimed => Math.Min(Volatile.Read(ref _claimed), _ticks.Length);

    /// <summary>Operations that failed.</summary>
    public int Errors => Volatile.Read(ref _errors);

    /// <summary>Claims the slot of the next operation; false once every slot is taken.</summary>
    public bool TryClaim(out int slot)
    {
        // Past the capacity the counter keeps counting, but it stops at most one increment per
        // client beyond it: each client stops at its first refusal.
        slot = Interlocked.Increment(ref _claimed) - 1;
        return slot < _ticks.Length;
    }

    /// <summary>Records the latency of the operation in <paramref name="slot"/>, from two <see cref="Stopwatch.GetTimestamp"/> values.</summary>
    public void Succeeded(int slot, long startTimestamp, long endTimestamp) => _ticks[slot] = endTimestamp - startTimestamp;

    /// <summary>Marks the operation in <paramref name="slot"/> as failed.</summary>
    public void Failed(int slot)
    {
        _ticks[slot] = FailedMark;
        Interlocked.Increment(ref _errors);
    }

    /// <summary>
    /// The latencies of the operations that succeeded. Call once every client has stopped; it
    /// reorders the array.
    /// </summary>
    public LatencySummary Summarize()
    {
        int claimed = Claimed;
        int kept = 0;
        for (int i = 0; i < claimed; i++)
        {
            if (_ticks[i] >= 0)
            {
                _ticks[kept++] = _ticks[i];
            }
        }

        return LatencySummary.FromTicks(_ticks, kept);
    }
}
