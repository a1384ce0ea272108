namespace OmniStore.Internal;

/// <summary>
/// Starts, while descriptors are plentiful, what the .NET runtime otherwise starts on first use:
/// its timer thread. Started for the first time with the process out of descriptors, it fails
/// for good, and from then on no timer fires (no <see cref="Task.Delay(TimeSpan)"/> ends, no
/// timeout cancels): a node that first waits on a timer in the middle of a flood would stop
/// accepting and never time out the connections that hold its descriptors.
/// </summary>
internal static class RuntimeWarmUp
{
    private static int s_done;

    /// <summary>Makes sure the runtime's timer thread runs; cheap after the first call.</summary>
    public static void EnsureTimersRun()
    {
        if (Interlocked.Exchange(ref s_done, 1) == 0)
        {
            Task.Delay(1).GetAwaiter().GetResult();
        }
    }
}
