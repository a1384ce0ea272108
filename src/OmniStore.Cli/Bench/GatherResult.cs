using System.Globalization;
using System.Text.Json;

namespace OmniStore.Cli.Bench;

/// <summary>What one run of <c>omnistore bench gather</c> measured: the workers' Puts, then the master's Gets.</summary>
internal sealed record GatherResult
{
    public required int Workers { get; init; }

    public required int Results { get; init; }

    public required int Size { get; init; }

    public required int MasterConcurrency { get; init; }

    /// <summary>Wall time of the put phase: from the first worker's start to the last one's end.</summary>
    public required double PutSeconds { get; init; }

    /// <summary>Wall time of the master's gathering.</summary>
    public required double GatherSeconds { get; init; }

    public required LatencySummary PutLatency { get; init; }

    public required LatencySummary GetLatency { get; init; }

    /// <summary>Puts and Gets that failed, or Gets whose bytes were not the result's.</summary>
    public required int Errors { get; init; }

    public string? FirstError { get; init; }

    public OmniStoreError? FirstErrorKind { get; init; }

    public double TotalSeconds => PutSeconds + GatherSeconds;

    public double ObjectsPerSecond => TotalSeconds > 0 ? Results / TotalSeconds : 0;

    public double GatheredPerSecond => GatherSeconds > 0 ? Results / GatherSeconds : 0;

    public double PutPerSecond => PutSeconds > 0 ? Results / PutSeconds : 0;

    public void WriteText(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c, $"gather: {Results} results of {Size} bytes from {Workers} workers, the master {MasterConcurrency} Gets at a time"));
        output.WriteLine(string.Create(c, $"  workers put  {PutSeconds:0.000} s, {PutPerSecond:0} objects/s; latency p50 {SmallObjectResult.Format(PutLatency.P50Microseconds)}, p99 {SmallObjectResult.Format(PutLatency.P99Microseconds)}, max {SmallObjectResult.Format(PutLatency.MaxMicroseconds)}"));
        output.WriteLine(string.Create(c, $"  master gets  {GatherSeconds:0.000} s, {GatheredPerSecond:0} objects/s; latency p50 {SmallObjectResult.Format(GetLatency.P50Microseconds)}, p99 {SmallObjectResult.Format(GetLatency.P99Microseconds)}, max {SmallObjectResult.Format(GetLatency.MaxMicroseconds)}"));
        output.WriteLine(string.Create(c, $"  total        {TotalSeconds:0.000} s, {ObjectsPerSecond:0} objects/s{(Errors > 0 ? $", {Errors} failed" : "")}"));
        if (FirstError is not null)
        {
            output.WriteLine(string.Create(c, $"  first error  {FirstError}"));
        }
    }

    public void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteString("operation", "gather");
        writer.WriteNumber("workers", Workers);
        writer.WriteNumber("results", Results);
        writer.WriteNumber("size", Size);
        writer.WriteNumber("masterConcurrency", MasterConcurrency);
        writer.WriteNumber("errors", Errors);
        writer.WriteNumber("putSeconds", Math.Round(PutSeconds, 6));
        writer.WriteNumber("gatherSeconds", Math.Round(GatherSeconds, 6));
        writer.WriteNumber("totalSeconds", Math.Round(TotalSeconds, 6));
        writer.WriteNumber("objectsPerSecond", Math.Round(ObjectsPerSecond, 1));
        writer.WriteNumber("putP50Us", Math.Round(PutLatency.P50Microseconds, 1));
        writer.WriteNumber("putP99Us", Math.Round(PutLatency.P99Microseconds, 1));
        writer.WriteNumber("getP50Us", Math.Round(GetLatency.P50Microseconds, 1));
        writer.WriteNumber("getP99Us", Math.Round(GetLatency.P99Microseconds, 1));
        if (FirstError is not null)
        {
            writer.WriteString("firstError", FirstError);
        }
    }
}
