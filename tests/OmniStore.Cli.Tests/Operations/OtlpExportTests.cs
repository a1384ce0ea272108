using NodeMeter = OmniStore.Cli.Status.NodeMeter;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Operations;

/// <summary>
/// The daemon's OpenTelemetry export (docs/observability.md, "The daemon"): its counters reach an
/// OTLP collector, with the values /metrics shows; off unless a collector is named.
/// </summary>
public sealed class OtlpExportTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    [Fact]
    public async Task OtelEndpointVariable_ExportsTheNodesCounters_WithTheValuesOfMetrics()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var collector = OtlpReceiver.Start();
        var environment = new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "200",
        };
        await using var root = await DaemonProcess.StartAsync(Data, environment, "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--status-listen", "http://127.0.0.1:0");
        var put = await CliRunner.RunAsync(["put", "counted", "-", "--relay", root.Address], Data, stdin: new byte[100_000]);
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.Contains("Exporting metrics and spans with OTLP", root.StandardError + root.StandardOutput, StringComparison.Ordinal);

        // /metrics, then an export made after it, then /metrics again: every value that did not move
        // between the two scrapes must be the export's too.
        var before = await ScrapeAsync(root, ct);
        var export = await collector.NextMetricsAsync(DateTime.UtcNow.AddMilliseconds(300), "omnistore.requests", Timeout, ct);
        var after = await ScrapeAsync(root, ct);

        int compared = 0;
        foreach (var (name, labels, value) in before.Samples)
        {
            if (after.Samples.Any(s => s.Name == name && s.Value == value && SameLabels(s.Labels, labels)))
            {
                Assert.True(export.Value(NodeMeter.InstrumentName(name), labels) == value, $"{NodeMeter.InstrumentName(name)} {string.Join(",", labels)}: /metrics says {value}, OTLP {export.Value(NodeMeter.InstrumentName(name), labels)}");
                compared++;
            }
        }

        Assert.True(compared >= 15, $"only {compared} samples compared");
        Assert.True(export.Value("omnistore.requests", new Dictionary<string, string>()) >= 3, "the Put's requests are not counted");
        Assert.True(export.Value("omnistore.store_used_bytes", new Dictionary<string, string>()) >= 100_000);
        Assert.Equal("omnistore", export.Resource.GetValueOrDefault("service.name"));
        Assert.Equal("root", export.Resource.GetValueOrDefault("omnistore.node.role"));
    }

    [Fact]
    public async Task OtlpFlag_TurnsTheExportOn_AndWithoutEitherNothingIsExported()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var collector = OtlpReceiver.Start();
        var interval = new Dictionary<string, string?> { ["OTEL_METRIC_EXPORT_INTERVAL"] = "200" };
        await using (var quiet = await DaemonProcess.StartAsync(Data, interval, "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("quiet")))
        {
            await Task.Delay(600, ct);
            Assert.DoesNotContain("OTLP", quiet.StandardError + quiet.StandardOutput, StringComparison.Ordinal);
        }

        await Assert.ThrowsAsync<TimeoutException>(() => collector.NextMetricsAsync(DateTime.MinValue, "omnistore.requests", TimeSpan.FromMilliseconds(100), ct));
        await using var root = await DaemonProcess.StartAsync(Data, interval, "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--otlp", collector.Endpoint);
        var export = await collector.NextMetricsAsync(DateTime.MinValue, "omnistore.requests", Timeout, ct);
        Assert.True(export.Has("omnistore.store_used_bytes"));
        Assert.Equal(0, export.Value("omnistore.children", new Dictionary<string, string>()));
    }

    [Fact]
    public async Task OtlpFlag_TakesAnHttpAddressOnly()
    {
        var result = await CliRunner.RunAsync(["relay", "--listen", "tcp://127.0.0.1:0", "--otlp", "ftp://collector:21"], Data);
        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains("--otlp", result.StandardError, StringComparison.Ordinal);
    }

    private static async Task<PrometheusText> ScrapeAsync(DaemonProcess node, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = Timeout };
        return PrometheusText.Parse(await http.GetStringAsync(new Uri(new Uri(node.StatusUrl!), "/metrics"), ct));
    }

    private static bool SameLabels(Dictionary<string, string> a, Dictionary<string, string> b) =>
        a.Count == b.Count && a.All(l => b.GetValueOrDefault(l.Key) == l.Value);
}
