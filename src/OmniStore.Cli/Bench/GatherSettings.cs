namespace OmniStore.Cli.Bench;

/// <summary>
/// What <c>omnistore bench gather</c> runs: <see cref="Workers"/> connections put
/// <see cref="Results"/> objects of <see cref="Size"/> bytes between them, then a master gets every
/// one, <see cref="MasterConcurrency"/> requests at a time on its one connection.
/// </summary>
internal sealed record GatherSettings
{
    public const int DefaultWorkers = 64;
    public const int DefaultResults = 10_000;
    public const int DefaultMasterConcurrency = 16;
    public const int MaxWorkers = 1024;
    public const int MaxResults = 1_000_000;
    public const int MaxMasterConcurrency = 256;

    public static readonly TimeSpan DefaultTimeLimit = TimeSpan.FromMinutes(5);

    /// <summary>The node the workers put through (a relay).</summary>
    public required string Relay { get; init; }

    /// <summary>The node the master gets from; defaults to <see cref="Relay"/>.</summary>
    public string? Master { get; init; }

    public byte[]? SharedSecret { get; init; }

    /// <summary>Worker connections, putting their shares at once. Defaults to 64.</summary>
    public int Workers { get; init; } = DefaultWorkers;

    /// <summary>Result objects over all workers. Defaults to 10,000.</summary>
    public int Results { get; init; } = DefaultResults;

    /// <summary>Bytes of every result. Defaults to 4096.</summary>
    public int Size { get; init; } = SmallObjectSettings.DefaultSize;

    /// <summary>Gets the master keeps in flight. Defaults to 16.</summary>
    public int MasterConcurrency { get; init; } = DefaultMasterConcurrency;

    /// <summary>The longest the whole run may take before it is abandoned as a failure. Defaults to 5 minutes.</summary>
    public TimeSpan TimeLimit { get; init; } = DefaultTimeLimit;

    /// <summary>Where the run's names start: results are <c>PREFIX/w{worker}/{index}</c>.</summary>
    public string NamePrefix { get; init; } = "bench/gather/" + Guid.NewGuid().ToString("N")[..12];

    public int Seed { get; init; } = 1;

    /// <summary>Throws <see cref="UsageException"/> naming the option that is out of range.</summary>
    public void Validate()
    {
        Within(Workers, 1, MaxWorkers, "--workers");
        Within(Results, 1, MaxResults, "--results");
        Within(Size, sizeof(int), SmallObjectSettings.MaxSize, "--size");
        Within(MasterConcurrency, 1, MaxMasterConcurrency, "--master-concurrency");
        if (TimeLimit <= TimeSpan.Zero || TimeLimit > SmallObjectSettings.MaxDuration)
        {
            throw new UsageException($"--seconds must be more than 0 and at most {SmallObjectSettings.MaxDuration.TotalSeconds:0}.");
        }

        if (Results < Workers)
        {
            throw new UsageException($"--results ({Results}) must be at least --workers ({Workers}): every worker puts at least one result.");
        }
    }

    /// <summary>The worker that puts result <paramref name="result"/> (results are dealt round-robin).</summary>
    public int WorkerOf(int result) => result % Workers;

    /// <summary>The name of result <paramref name="result"/>: <c>PREFIX/w{worker}/{index within the worker}</c>.</summary>
    public string ResultName(int result) => $"{NamePrefix}/w{WorkerOf(result)}/{result / Workers}";

    private static void Within(int value, int min, int max, string option)
    {
        if (value < min || value > max)
        {
            throw new UsageException($"{option} must be between {min} and {max}, not {value}.");
        }
    }
}
