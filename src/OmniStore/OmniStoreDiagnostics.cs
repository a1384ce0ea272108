namespace OmniStore;

/// <summary>
/// The names under which OmniStore reports what it does through <c>System.Diagnostics</c>: give them
/// to an OpenTelemetry tracer and meter provider (<c>AddSource</c>, <c>AddMeter</c>), or to an
/// <see cref="System.Diagnostics.ActivityListener"/> and a <see cref="System.Diagnostics.Metrics.MeterListener"/>.
/// The library depends on no OpenTelemetry package; see docs/observability.md.
/// </summary>
public static class OmniStoreDiagnostics
{
    /// <summary>
    /// The <see cref="System.Diagnostics.ActivitySource"/> of the client's operations (<c>OmniStore.Get</c>,
    /// <c>OmniStore.Put</c>, ...) and of the requests a node serves for a traced peer
    /// (<c>OmniStore.Serve GetChunk</c>, ...).
    /// </summary>
    public const string ActivitySourceName = "OmniStore";

    /// <summary>
    /// The <see cref="System.Diagnostics.Metrics.Meter"/> of clients: operations, bytes, errors,
    /// failovers, returns to the preferred node and operation durations.
    /// </summary>
    public const string ClientMeterName = "OmniStore.Client";
}
