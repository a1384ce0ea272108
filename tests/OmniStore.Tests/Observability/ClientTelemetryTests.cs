using System.Diagnostics;
using System.Diagnostics.Metrics;
using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OmniStore.Tests.Observability;

/// <summary>
/// The client's spans and metrics, collected as docs/observability.md sets them up, and the trace
/// of a Get through a relay: worker, then relay, then root, in one trace.
/// </summary>
[Collection(SharedActivityListeners.Name)]
public sealed class ClientTelemetryTests
{
    private static readonly ActivitySource TestSource = new("OmniStore.Tests.Observability");

    [Fact]
    public async Task GetThroughARelay_IsOneTrace_WorkerRelayRoot_AndIsCountedInTheClientMeter()
    {
        var ct = TestContext.Current.CancellationToken;
        var spans = new List<Activity>();
        var metrics = new List<Metric>();

        // The setup of docs/observability.md, with in-memory exporters in place of OTLP.
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(OmniStoreDiagnostics.ActivitySourceName, TestSource.Name)
            .AddInMemoryExporter(spans)
            .Build();
        using var metering = Sdk.CreateMeterProviderBuilder()
            .AddMeter(OmniStoreDiagnostics.ClientMeterName)
            .AddInMemoryExporter(metrics)
            .Build();

        // Other tests of this process use clients too: the exact counts are this test's, by trace.
        using var ours = new TraceMeasurements();

        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var data = TestData.Random(3 << 20, 19); // three chunks: GET_CHUNKs the relay fetches from the root
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("traced", data, ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], new OmniStoreOptions { ChunkSize = 1 << 20 });
        ActivityTraceId traceId;
        using (var test = TestSource.StartActivity("test"))
        {
            Assert.NotNull(test);
            traceId = test.TraceId;
            ours.TraceId = traceId;
            Assert.Equal(data, await worker.GetAsync("traced", ct));
        }

        tracing.ForceFlush();
        var trace = spans.Where(s => s.TraceId == traceId).ToList();
        var get = Assert.Single(trace, s => s.DisplayName == "OmniStore.Get");
        Assert.Equal(ActivityKind.Client, get.Kind);
        Assert.Equal("traced", get.GetTagItem("omnistore.object.name"));
        Assert.Equal((long)data.Length, get.GetTagItem("omnistore.bytes"));

        // The relay served the worker's requests as children of the Get span ...
        var atRelay = trace.Where(s => s.Kind == ActivityKind.Server && s.ParentSpanId == get.SpanId).ToList();
        Assert.NotEmpty(atRelay);
        Assert.All(atRelay, s => Assert.Equal("Client", s.GetTagItem("omnistore.peer.role")));
        Assert.Contains(atRelay, s => s.DisplayName == "OmniStore.Serve GetChunk");

        // ... and the root served the relay's fetches as children of the relay's spans.
        var relaySpans = atRelay.Select(s => s.SpanId).ToHashSet();
        var atRoot = trace.Where(s => s.Kind == ActivityKind.Server && relaySpans.Contains(s.ParentSpanId)).ToList();
        Assert.NotEmpty(atRoot);
        Assert.All(atRoot, s => Assert.Equal("Relay", s.GetTagItem("omnistore.peer.role")));
        Assert.Contains(atRoot, s => s.DisplayName == "OmniStore.Serve GetChunk");

        metering.ForceFlush();
        Assert.Equal(1, ours.Sum("omnistore.client.operations", "get"));
        Assert.Equal(data.Length, ours.Sum("omnistore.client.bytes", "get"));
        Assert.Equal(1, ours.Count("omnistore.client.operation.duration", "get"));
        Assert.Equal(0, ours.Sum("omnistore.client.errors", "get"));
        Assert.Contains(metrics, m => m.Name == "omnistore.client.operations");
        Assert.Contains(metrics, m => m.Name == "omnistore.client.bytes" && m.Unit == "By");
        Assert.Contains(metrics, m => m.Name == "omnistore.client.operation.duration" && m.Unit == "s");
    }

    [Fact]
    public async Task AFailedGet_IsAnErrorSpan_AndCountedAsAnError()
    {
        var ct = TestContext.Current.CancellationToken;
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(OmniStoreDiagnostics.ActivitySourceName, TestSource.Name)
            .AddInMemoryExporter(spans)
            .Build();
        using var ours = new TraceMeasurements();
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);

        ActivityTraceId traceId;
        using (var test = TestSource.StartActivity("test"))
        {
            traceId = test!.TraceId;
            ours.TraceId = traceId;
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetAsync("missing", ct).AsTask());
            Assert.Equal(OmniStoreError.NotFound, error.Error);
        }

        tracing.ForceFlush();
        var get = Assert.Single(spans, s => s.TraceId == traceId && s.DisplayName == "OmniStore.Get");
        Assert.Equal(ActivityStatusCode.Error, get.Status);
        Assert.Equal("NotFound", get.GetTagItem("error.type"));
        Assert.Equal(1, ours.Sum("omnistore.client.errors", "get"));
        Assert.Equal(1, ours.Sum("omnistore.client.operations", "get"));
    }

    /// <summary>
    /// The client meter's measurements made while an activity of one trace was current: what one
    /// test's operations recorded, whatever other tests of the process do meanwhile.
    /// </summary>
    private sealed class TraceMeasurements : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<(string Instrument, string? Operation, double Value)> _seen = [];

        public TraceMeasurements()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == OmniStoreDiagnostics.ClientMeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
            _listener.Start();
        }

        public ActivityTraceId TraceId { get; set; }

        public double Sum(string instrument, string operation)
        {
            lock (_seen)
            {
                return _seen.Where(m => m.Instrument == instrument && m.Operation == operation).Sum(m => m.Value);
            }
        }

        public int Count(string instrument, string operation)
        {
            lock (_seen)
            {
                return _seen.Count(m => m.Instrument == instrument && m.Operation == operation);
            }
        }

        private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (Activity.Current?.TraceId != TraceId)
            {
                return;
            }

            string? operation = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "omnistore.operation")
                {
                    operation = tag.Value as string;
                }
            }

            lock (_seen)
            {
                _seen.Add((instrument.Name, operation, value));
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
