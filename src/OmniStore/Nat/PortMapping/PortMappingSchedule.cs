namespace OmniStore.Nat.PortMapping;

/// <summary>
/// When NAT-PMP and PCP requests are sent again (RFC 6886 section 3.1: 250 ms, doubling, 9 tries;
/// RFC 6887 section 8.1.1 allows the same): the first wait, and how many requests in all. Tests
/// and a node's start-up use shorter schedules.
/// </summary>
/// <param name="InitialWait">The wait after the first request; each later wait doubles.</param>
/// <param name="Requests">How many requests, the first included.</param>
internal sealed record PortMappingSchedule(TimeSpan InitialWait, int Requests)
{
    /// <summary>RFC 6886's: 250 ms doubling, 9 requests (about 128 s in all).</summary>
    public static readonly PortMappingSchedule Rfc6886 = new(TimeSpan.FromMilliseconds(250), 9);

    /// <summary>How long a transaction takes when nothing answers.</summary>
    public TimeSpan Total
    {
        get
        {
            var total = TimeSpan.Zero;
            var wait = InitialWait;
            for (int i = 0; i < Requests; i++)
            {
                total += wait;
                wait *= 2;
            }

            return total;
        }
    }

    /// <summary>Checks the schedule once, naming the bad property.</summary>
    public void Validate(string argumentName)
    {
        if (InitialWait <= TimeSpan.Zero || InitialWait > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentOutOfRangeException(argumentName, InitialWait, "InitialWait must be more than 0 and at most a minute.");
        }

        if (Requests is < 1 or > 12)
        {
            throw new ArgumentOutOfRangeException(argumentName, Requests, "Requests must be 1 to 12.");
        }
    }
}
