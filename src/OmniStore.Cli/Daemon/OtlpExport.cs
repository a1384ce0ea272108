using OmniStore.Cli.Status;
using OmniStore.Node;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace OmniStore.Cli.Daemon;

/// <summary>
/// The daemon's OpenTelemetry export (docs/observability.md, "The daemon"): the node's metrics
/// (<see cref="NodeMeter"/>, the families of <c>/metrics</c>) and the spans of the traced requests
/// it serves (<see cref="OmniStoreDiagnostics.ActivitySourceName"/>), sent with OTLP. On only when
/// <c>--otlp</c> or <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names a collector; every other setting is
/// the SDK's standard <c>OTEL_*</c> variable (protocol, headers, export interval, resource).
/// </summary>
internal sealed class OtlpExport : IDisposable
{
    /// <summary>The standard variable that names the collector, and so turns the export on.</summary>
    public const string EndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The standard variable that names the protocol: <c>grpc</c> or <c>http/protobuf</c>.</summary>
    public const string ProtocolVariable = "OTEL_EXPORTER_OTLP_PROTOCOL";

    private readonly NodeMeter _meter;
    private readonly MeterProvider _meters;
    private readonly TracerProvider _spans;

    private OtlpExport(NodeMeter meter, MeterProvider meters, TracerProvider spans)
    {
        _meter = meter;
        _meters = meters;
        _spans = spans;
    }

    /// <summary>Where the export goes, for the log: the address given, or the variable's.</summary>
    public required string Destination { get; init; }

    /// <summary>
    /// Starts the export to <paramref name="endpoint"/> (<c>--otlp</c>), else to the collector
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names; null when neither is set.
    /// </summary>
    public static OtlpExport? Start(Uri? endpoint, Func<NodeStatus> status, string nodeId, string role, string site)
    {
        string? variable = Environment.GetEnvironmentVariable(EndpointVariable);
        if (endpoint is null && string.IsNullOrWhiteSpace(variable))
        {
            return null;
        }

        var meter = new NodeMeter(status);
        void Resource(ResourceBuilder resource)
        {
            // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK, win over these.
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME")))
            {
                resource.AddService("omnistore", serviceInstanceId: nodeId);
            }

            resource.AddAttributes([new("omnistore.node.id", nodeId), new("omnistore.node.role", role), new("omnistore.site", site)]);
        }

        var meters = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(Resource)
            .AddMeter(NodeMeter.MeterName)
            .AddOtlpExporter(options => Configure(options, endpoint, "v1/metrics"))
            .Build();
        var spans = Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(Resource)
            .AddSource(OmniStoreDiagnostics.ActivitySourceName)
            .AddOtlpExporter(options => Configure(options, endpoint, "v1/traces"))
            .Build();
        return new OtlpExport(meter, meters, spans) { Destination = endpoint?.ToString() ?? $"{variable} (${EndpointVariable})" };
    }

    /// <summary>
    /// With <c>--otlp</c>: its address, over http/protobuf (the OTLP default) unless
    /// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> asks for grpc; with http/protobuf the signal's path is added,
    /// as the SDK does for the variable. Without it the SDK has read the variables already.
    /// </summary>
    private static void Configure(OtlpExporterOptions options, Uri? endpoint, string signalPath)
    {
        if (endpoint is null)
        {
            return;
        }

        bool grpc = string.Equals(Environment.GetEnvironmentVariable(ProtocolVariable), "grpc", StringComparison.OrdinalIgnoreCase);
        options.Protocol = grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
        string text = endpoint.ToString();
        options.Endpoint = grpc ? endpoint : new Uri(text.EndsWith('/') ? text + signalPath : text + "/" + signalPath);
    }

    /// <summary>Sends what is left (the last metrics, ended spans) and stops.</summary>
    public void Dispose()
    {
        _meters.ForceFlush(2000);
        _spans.ForceFlush(2000);
        _spans.Dispose();
        _meters.Dispose();
        _meter.Dispose();
    }
}
