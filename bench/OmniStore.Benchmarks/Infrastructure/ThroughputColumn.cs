using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace OmniStore.Benchmarks.Infrastructure;

/// <summary>
/// Bytes a benchmark class processes per operation, for <see cref="ThroughputColumn"/>. Classes
/// with a <c>Size</c> parameter need not set it: the parameter wins.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ProcessedBytesAttribute(long bytes) : Attribute
{
    public long Bytes { get; } = bytes;
}

/// <summary>Adds <see cref="ThroughputColumn"/>.</summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig() => AddColumn(new ThroughputColumn());
}

/// <summary>
/// Bytes processed per second: the <c>Size</c> parameter, or the class's
/// <see cref="ProcessedBytesAttribute"/>, over the mean time of one operation.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    public string Id => nameof(ThroughputColumn);

    public string ColumnName => "Throughput";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Bytes processed per second: bytes per operation / Mean (1 GB/s = 10^9 B/s)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? meanNanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        double? bytes = BytesPerOperation(benchmarkCase);
        if (meanNanoseconds is not > 0 || bytes is null)
        {
            return "NA";
        }

        double bytesPerSecond = bytes.Value / (meanNanoseconds.Value * 1e-9);
        return bytesPerSecond >= 1e9
            ? string.Create(CultureInfo.InvariantCulture, $"{bytesPerSecond / 1e9:F2} GB/s")
            : string.Create(CultureInfo.InvariantCulture, $"{bytesPerSecond / 1e6:F0} MB/s");
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    private static double? BytesPerOperation(BenchmarkCase benchmarkCase)
    {
        if (benchmarkCase.Parameters["Size"] is { } size)
        {
            return Convert.ToDouble(size, CultureInfo.InvariantCulture);
        }

        return benchmarkCase.Descriptor.Type.GetCustomAttribute<ProcessedBytesAttribute>()?.Bytes;
    }
}
