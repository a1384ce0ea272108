namespace OmniStore.Cli.Status;

/// <summary>The families and samples <see cref="NodeMetrics"/> wrote, kept as values (for the OpenTelemetry meter, <see cref="NodeMeter"/>).</summary>
internal sealed class MetricSamples : IMetricWriter
{
    private readonly List<MetricFamily> _families = [];
    private readonly Dictionary<string, MetricFamily> _byName = new(StringComparer.Ordinal);

    /// <summary>The families in the order written.</summary>
    public IReadOnlyList<MetricFamily> Families => _families;

    /// <summary>The family named <paramref name="name"/> (its /metrics name), or null if this snapshot has none.</summary>
    public MetricFamily? Find(string name) => _byName.GetValueOrDefault(name);

    public IMetricWriter Family(string name, string type, string help)
    {
        var family = new MetricFamily(name, type, help, []);
        _families.Add(family);
        _byName[name] = family;
        return this;
    }

    public IMetricWriter Sample(string name, long value, params (string Name, string Value)[] labels)
    {
        _byName[name].Samples.Add(new MetricSample(value, labels));
        return this;
    }
}

/// <summary>One metric family of the node: its /metrics name, <c>counter</c> or <c>gauge</c>, help text and samples.</summary>
internal sealed record MetricFamily(string Name, string Type, string Help, List<MetricSample> Samples);

/// <summary>One sample: its value and labels.</summary>
internal readonly record struct MetricSample(long Value, (string Name, string Value)[] Labels);
