using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace OmniStore.Diagnostics;

/// <summary>
/// The library's one <see cref="ActivitySource"/> and the client's <see cref="Meter"/> with its
/// instruments (docs/observability.md). Process-wide, as is usual for a library: every client of the
/// process reports to them, told apart by the spans' traces and the measurements' tags.
/// </summary>
internal static class Telemetry
{
    public static readonly ActivitySource Source = new(OmniStoreDiagnostics.ActivitySourceName, typeof(Telemetry).Assembly.GetName().Version?.ToString());

    public static readonly Meter ClientMeter = new(OmniStoreDiagnostics.ClientMeterName, typeof(Telemetry).Assembly.GetName().Version?.ToString());

    /// <summary>Operations finished, failed ones included; tag <c>omnistore.operation</c>.</summary>
    public static readonly Counter<long> Operations = ClientMeter.CreateCounter<long>("omnistore.client.operations", "{operation}", "Operations the client finished, failed ones included.");

    /// <summary>Object bytes read by Gets and written by Puts; tag <c>omnistore.operation</c>.</summary>
    public static readonly Counter<long> Bytes = ClientMeter.CreateCounter<long>("omnistore.client.bytes", "By", "Object bytes a Get returned or a Put stored.");

    /// <summary>Failed operations; tags <c>omnistore.operation</c> and <c>error.type</c> (an <see cref="OmniStoreError"/> name).</summary>
    public static readonly Counter<long> Errors = ClientMeter.CreateCounter<long>("omnistore.client.errors", "{operation}", "Operations that failed, by operation and error.");

    /// <summary>Moves to another address after a failure; tag <c>server.address</c>, where the client went.</summary>
    public static readonly Counter<long> Failovers = ClientMeter.CreateCounter<long>("omnistore.client.failovers", "{move}", "Moves to another address after the node in use failed.");

    /// <summary>Moves back to a preferred address once it answered again; tag <c>server.address</c>.</summary>
    public static readonly Counter<long> Restores = ClientMeter.CreateCounter<long>("omnistore.client.restores", "{move}", "Moves back to a preferred address once it answered again.");

    /// <summary>How long operations took, in seconds; tags <c>omnistore.operation</c> and, when one failed, <c>error.type</c>.</summary>
    public static readonly Histogram<double> Duration = ClientMeter.CreateHistogram<double>("omnistore.client.operation.duration", "s", "How long the client's operations took.");
}
