namespace OmniStore.Cli.Bench;

/// <summary>A staging sweep: what to stage, over which network, and which (mode, workers) points to run.</summary>
internal sealed record StagingSettings
{
    /// <summary>The seed's 50 MB of common data per worker.</summary>
    public const long DefaultSize = 50_000_000;

    public static readonly IReadOnlyList<int> DefaultWorkers = [1, 2, 4, 8, 16, 32, 64];

    public long Size { get; init; } = DefaultSize;

    public int Sites { get; init; } = 2;

    public IReadOnlyList<int> Workers { get; init; } = DefaultWorkers;

    public IReadOnlyList<StagingMode> Modes { get; init; } = Enum.GetValues<StagingMode>();

    /// <summary>Every WAN link's rate, bits per second (the lab only).</summary>
    public long RateBitsPerSecond { get; init; } = 100_000_000;

    /// <summary>Round trip between any two sites (the lab only): each link adds a quarter of it each way.</summary>
    public TimeSpan RoundTrip { get; init; } = TimeSpan.FromMilliseconds(40);

    public TimeSpan Jitter { get; init; }

    /// <summary>Loss rate of each WAN link, each way (0..1; the lab only).</summary>
    public double Loss { get; init; }

    /// <summary>Share of packets each WAN link delivers twice, each way (0..1; the lab only).</summary>
    public double Duplicate { get; init; }

    /// <summary>Share of packets each WAN link holds back 1 ms, so that later ones overtake them (0..1; the lab only).</summary>
    public double Reorder { get; init; }

    /// <summary>The transport every link of the tree uses: <c>tcp</c> or <c>rudp</c>.</summary>
    public string Transport { get; init; } = "tcp";

    /// <summary>Every site and the master's behind a cone NAT, the root found by name through a public rendezvous (the lab, rudp only).</summary>
    public bool BehindNat { get; init; }

    /// <summary>Loopback instead of the lab: no namespaces, no shaping.</summary>
    public bool Loopback { get; init; }

    /// <summary>Where the markdown table and the SVG chart go.</summary>
    public string ResultsDirectory { get; init; } = Path.Combine("bench", "results");

    /// <summary>The command line, recorded with the results.</summary>
    public string CommandLine { get; init; } = string.Empty;

    /// <summary>Workers per site: as even as possible, the first sites taking one more.</summary>
    public IReadOnlyList<int> Spread(int workers) =>
        Enumerable.Range(0, Sites).Select(site => (workers / Sites) + (site < workers % Sites ? 1 : 0)).ToArray();
}
