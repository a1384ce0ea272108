using System.Diagnostics;
using System.Diagnostics.Metrics;
using OmniStore.Node;

namespace OmniStore.Cli.Status;

/// <summary>
/// The node's metrics as an OpenTelemetry <see cref="Meter"/> (<see cref="MeterName"/>): one
/// observable instrument per family of <c>/metrics</c>, reporting the same samples with the same
/// labels, read from the same <see cref="NodeStatus"/> by the same code (<see cref="NodeMetrics.Write"/>).
/// Instruments are named as OpenTelemetry names them, <c>omnistore.requests</c> for
/// <c>omnistore_requests_total</c> (<see cref="InstrumentName"/>): an exporter to Prometheus names
/// them back. docs/observability.md lists them.
/// </summary>
internal sealed class NodeMeter : IDisposable
{
    /// <summary>The meter's name, for <c>AddMeter</c>.</summary>
    public const string MeterName = "OmniStore.Node";

    /// <summary>
    /// How long one status snapshot answers the instruments: a collection reads every instrument in
    /// turn, and the node's status is taken once for all of them, not once per family.
    /// </summary>
    private static readonly TimeSpan SnapshotLifetime = TimeSpan.FromMilliseconds(250);

    private readonly Func<NodeStatus> _status;
    private readonly Meter _meter;
    private readonly Lock _lock = new();
    private MetricSamples? _snapshot;
    private long _takenAt;

    /// <summary>
    /// Creates the instruments, one per family the node reports now (the families depend on how the
    /// node runs: a parent, NAT, a rendezvous; not on what it does).
    /// </summary>
    public NodeMeter(Func<NodeStatus> status)
    {
        _status = status;
        _meter = new Meter(MeterName, typeof(NodeMeter).Assembly.GetName().Version?.ToString());
        foreach (var family in Snapshot().Families)
        {
            string name = family.Name;
            if (family.Type == "counter")
            {
                _meter.CreateObservableCounter(InstrumentName(name), () => Observe(name), unit: null, description: family.Help);
            }
            else
            {
                _meter.CreateObservableGauge(InstrumentName(name), () => Observe(name), unit: null, description: family.Help);
            }
        }
    }

    /// <summary>
    /// The OpenTelemetry name of the /metrics family <paramref name="prometheusName"/>: the prefix
    /// <c>omnistore_</c> becomes <c>omnistore.</c>, and a counter's <c>_total</c> goes (exporters to
    /// Prometheus add it to monotonic sums).
    /// </summary>
    public static string InstrumentName(string prometheusName)
    {
        string name = prometheusName.EndsWith("_total", StringComparison.Ordinal) ? prometheusName[..^"_total".Length] : prometheusName;
        return name.StartsWith("omnistore_", StringComparison.Ordinal) ? "omnistore." + name["omnistore_".Length..] : name;
    }

    private IEnumerable<Measurement<long>> Observe(string family)
    {
        if (Snapshot().Find(family) is not { } found)
        {
            return [];
        }

        return found.Samples.Select(sample => new Measurement<long>(sample.Value, sample.Labels.Select(l => new KeyValuePair<string, object?>(l.Name, l.Value))));
    }

    private MetricSamples Snapshot()
    {
        lock (_lock)
        {
            if (_snapshot is null || Stopwatch.GetElapsedTime(_takenAt) > SnapshotLifetime)
            {
                var samples = new MetricSamples();
                NodeMetrics.Write(_status(), samples);
                _snapshot = samples;
                _takenAt = Stopwatch.GetTimestamp();
            }

            return _snapshot;
        }
    }

    public void Dispose() => _meter.Dispose();
}
