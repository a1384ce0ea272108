using System.Globalization;
using System.Text.Json;

namespace OmniStore.Cli.Bench;

/// <summary>What one run of <c>omnistore bench small</c> measured.</summary>
internal sealed record SmallObjectResult
{
    public required SmallObjectOperation Operation { get; init; }

    public required int Clients { get; init; }

    public required int Size { get; init; }

    /// <summary>Operations that were started: <see cref="Succeeded"/> plus <see cref="Errors"/>.</summary>
    public required int Attempted { get; init; }

    public required int Errors { get; init; }

    /// <summary>Wall time from the first client's start to the last one's end.</summary>
    public required double Seconds { get; init; }

    /// <summary>The latencies of the operations that succeeded.</summary>
    public required LatencySummary Latency { get; init; }

    /// <summary>Whether the run ended at its time bound rather than its operation count.</summary>
    public required bool StoppedByTime { get; init; }

    /// <summary>The first failure's message, if any failed.</summary>
    public string? FirstError { get; init; }

    /// <summary>The first failure's kind, if it was an <see cref="OmniStoreException"/>.</summary>
    public OmniStoreError? FirstErrorKind { get; init; }

    public int Succeeded => Attempted - Errors;

    public double OperationsPerSecond => Seconds > 0 ? Succeeded / Seconds : 0;

    public static string Name(SmallObjectOperation operation) => operation == SmallObjectOperation.Get ? "get" : "put";

    /// <summary>The human-readable report.</summary>
    public void WriteText(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c, $"{Name(Operation)}: {Clients} clients, {Size}-byte objects"));
        output.WriteLine(string.Create(c, $"  operations  {Succeeded} in {Seconds:0.000} s{(Errors > 0 ? $", {Errors} failed" : "")}{(StoppedByTime ? " (stopped by --seconds)" : "")}"));
        output.WriteLine(string.Create(c, $"  ops/s       {OperationsPerSecond:0}"));
        output.WriteLine(string.Create(c, $"  latency     p50 {Format(Latency.P50Microseconds)}, p99 {Format(Latency.P99Microseconds)}, max {Format(Latency.MaxMicroseconds)}, mean {Format(Latency.MeanMicroseconds)}"));
        if (FirstError is not null)
        {
            output.WriteLine(string.Create(c, $"  first error {FirstError}"));
        }
    }

    /// <summary>The <c>--json</c> report: one flat object, latencies in microseconds.</summary>
    public void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteString("operation", Name(Operation));
        writer.WriteNumber("clients", Clients);
        writer.WriteNumber("size", Size);
        writer.WriteNumber("operations", Succeeded);
        writer.WriteNumber("errors", Errors);
        writer.WriteNumber("seconds", Math.Round(Seconds, 6));
        writer.WriteNumber("opsPerSecond", Math.Round(OperationsPerSecond, 1));
        writer.WriteNumber("p50Us", Math.Round(Latency.P50Microseconds, 1));
        writer.WriteNumber("p99Us", Math.Round(Latency.P99Microseconds, 1));
        writer.WriteNumber("maxUs", Math.Round(Latency.MaxMicroseconds, 1));
        writer.WriteNumber("meanUs", Math.Round(Latency.MeanMicroseconds, 1));
        writer.WriteBoolean("stoppedByTime", StoppedByTime);
        if (FirstError is not null)
        {
            writer.WriteString("firstError", FirstError);
        }
    }

    /// <summary>A latency in the unit that reads best: microseconds below 1 ms, else milliseconds.</summary>
    public static string Format(double microseconds) => microseconds < 1000
        ? string.Create(CultureInfo.InvariantCulture, $"{microseconds:0} us")
        : string.Create(CultureInfo.InvariantCulture, $"{microseconds / 1000:0.00} ms");
}
