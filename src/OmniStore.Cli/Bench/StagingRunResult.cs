namespace OmniStore.Cli.Bench;

/// <summary>What one (mode, workers) run measured.</summary>
internal sealed record StagingRunResult
{
    public required StagingMode Mode { get; init; }

    public required int Workers { get; init; }

    public required IReadOnlyList<int> WorkersPerSite { get; init; }

    public required long Size { get; init; }

    /// <summary>From the start of the Put until the last worker held verified data.</summary>
    public required double Seconds { get; init; }

    public required double PutSeconds { get; init; }

    /// <summary>The time the bottleneck link needs for the mode's bytes; null without shaping.</summary>
    public double? FloorSeconds { get; init; }

    /// <summary>Kernel counters per WAN link (index 0: the master site's), during the run; null on loopback.</summary>
    public IReadOnlyList<LinkBytes>? WanBytes { get; init; }

    /// <summary>Bytes the root sent to its children, from its own counters (wire bytes).</summary>
    public long RootBytesOut { get; init; }

    /// <summary>Bytes each site's relay received from the root, from its own counters; empty in direct mode.</summary>
    public IReadOnlyList<long> RelayBytesIn { get; init; } = [];

    /// <summary>CPU seconds of every process of the run, from "go" to the end.</summary>
    public required double CpuSeconds { get; init; }

    public int FailedWorkers { get; init; }

    public double? TimeOverFloor => FloorSeconds is > 0 ? Seconds / FloorSeconds : null;
}
