using System.Text.Json;
using System.Text.Json.Serialization;

namespace OmniStore.Cli.Bench;

/// <summary>A sweep's results as JSON, next to the table and chart, for scripts and tests.</summary>
internal sealed record StagingResultsFile(
    DateTimeOffset Started,
    string Command,
    string Network,
    string Machine,
    bool ShapesWan,
    long Size,
    int Sites,
    IReadOnlyList<StagingRunRecord> Runs);

/// <summary>One run; byte counts per WAN link, index 0 the master site's (null on loopback).</summary>
internal sealed record StagingRunRecord(
    string Mode,
    int Workers,
    IReadOnlyList<int> WorkersPerSite,
    double Seconds,
    double PutSeconds,
    double? FloorSeconds,
    IReadOnlyList<LinkBytesRecord>? WanLinks,
    long RootBytesOut,
    IReadOnlyList<long> RelayBytesIn,
    double CpuSeconds,
    int FailedWorkers)
{
    public static StagingRunRecord From(StagingRunResult r) => new(
        r.Mode.Name(), r.Workers, r.WorkersPerSite, r.Seconds, r.PutSeconds, r.FloorSeconds,
        r.WanBytes?.Select(l => new LinkBytesRecord(l.Out, l.In, l.PayloadOut, l.PayloadIn)).ToArray(),
        r.RootBytesOut, r.RelayBytesIn, r.CpuSeconds, r.FailedWorkers);

    public StagingRunResult ToResult(long size) => new()
    {
        Mode = StagingModes.TryParse(Mode, out var mode) ? mode : throw new JsonException($"Unknown mode '{Mode}'."),
        Workers = Workers,
        WorkersPerSite = WorkersPerSite,
        Size = size,
        Seconds = Seconds,
        PutSeconds = PutSeconds,
        FloorSeconds = FloorSeconds,
        WanBytes = WanLinks?.Select(l => new LinkBytes(l.IpOut, l.IpIn, (l.IpOut - l.PayloadOut) / LinkBytes.TcpIpHeaderBytes, (l.IpIn - l.PayloadIn) / LinkBytes.TcpIpHeaderBytes)).ToArray(),
        RootBytesOut = RootBytesOut,
        RelayBytesIn = RelayBytesIn,
        CpuSeconds = CpuSeconds,
        FailedWorkers = FailedWorkers,
    };
}

/// <summary>A WAN link during one run: IP bytes and TCP payload bytes, out of and into its site.</summary>
internal sealed record LinkBytesRecord(long IpOut, long IpIn, long PayloadOut, long PayloadIn);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(StagingResultsFile))]
internal sealed partial class StagingResultsJson : JsonSerializerContext
{
    public static string Serialize(StagingResultsFile file) => JsonSerializer.Serialize(file, Default.StagingResultsFile);

    public static StagingResultsFile Deserialize(string json) =>
        JsonSerializer.Deserialize(json, Default.StagingResultsFile) ?? throw new JsonException("The results are null.");
}
