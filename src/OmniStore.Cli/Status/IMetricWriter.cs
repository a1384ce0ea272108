namespace OmniStore.Cli.Status;

/// <summary>
/// Where <see cref="NodeMetrics"/> writes the node's metrics: the Prometheus text of <c>/metrics</c>
/// (<see cref="PrometheusText"/>), or the samples the OpenTelemetry meter reports (<see cref="MetricSamples"/>).
/// Both are written by the one code, so both always say the same.
/// </summary>
internal interface IMetricWriter
{
    /// <summary>Starts a metric family; <paramref name="type"/> is <c>counter</c> or <c>gauge</c>.</summary>
    IMetricWriter Family(string name, string type, string help);

    /// <summary>Adds a sample of the family just started.</summary>
    IMetricWriter Sample(string name, long value, params (string Name, string Value)[] labels);

    /// <summary>A family with a single unlabelled sample.</summary>
    IMetricWriter Single(string name, string type, string help, long value) =>
        Family(name, type, help).Sample(name, value);
}
