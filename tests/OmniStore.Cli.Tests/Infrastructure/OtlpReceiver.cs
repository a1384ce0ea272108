using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>
/// A stand-in OTLP collector on loopback: accepts OTLP/HTTP protobuf exports at <c>/v1/metrics</c>
/// and <c>/v1/traces</c> and decodes enough of the metrics (names, number data points and their
/// attributes, the resource's attributes) for a test to compare values. Bounded: at most 1 MiB per
/// export, the last 64 exports kept.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private const int MaxBody = 1 << 20;
    private const int KeptExports = 64;
    private readonly HttpListener _listener = new();
    private readonly List<MetricsExport> _metrics = [];
    private readonly Task _loop;
    private int _traceExports;

    private OtlpReceiver(int port)
    {
        Endpoint = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>The collector's address, as <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> takes it.</summary>
    public string Endpoint { get; }

    /// <summary>How many span exports arrived.</summary>
    public int TraceExports => Volatile.Read(ref _traceExports);

    public static OtlpReceiver Start()
    {
        // HttpListener takes no port 0: a free port, found just before (loopback only).
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return new OtlpReceiver(port);
    }

    /// <summary>
    /// Waits (at most <paramref name="timeout"/>) for a metrics export that arrived after
    /// <paramref name="since"/> and reports <paramref name="metric"/>.
    /// </summary>
    public async Task<MetricsExport> NextMetricsAsync(DateTime since, string metric, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            lock (_metrics)
            {
                if (_metrics.LastOrDefault(m => m.Received > since && m.Has(metric)) is { } found)
                {
                    return found;
                }
            }

            await Task.Delay(50, ct);
        }

        string seen;
        lock (_metrics)
        {
            seen = string.Join("; ", _metrics.Where(m => m.Received > since).Select(m => string.Join(",", m.Points.Select(p => p.Metric).Distinct())));
        }

        throw new TimeoutException($"no OTLP metrics export with {metric} arrived at {Endpoint} within {timeout}; exports seen: [{seen}]");
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            using var response = context.Response;
            using var body = new MemoryStream();
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await context.Request.InputStream.ReadAsync(buffer)) > 0 && body.Length <= MaxBody)
            {
                body.Write(buffer, 0, read);
            }

            if (body.Length > MaxBody || context.Request.ContentType != "application/x-protobuf")
            {
                response.StatusCode = 400;
                continue;
            }

            switch (context.Request.Url?.AbsolutePath)
            {
                case "/v1/metrics":
                    var export = MetricsExport.Decode(body.ToArray());
                    lock (_metrics)
                    {
                        _metrics.Add(export);
                        if (_metrics.Count > KeptExports)
                        {
                            _metrics.RemoveAt(0);
                        }
                    }

                    break;
                case "/v1/traces":
                    Interlocked.Increment(ref _traceExports);
                    break;
                default:
                    response.StatusCode = 404;
                    continue;
            }

            response.StatusCode = 200;
            response.ContentType = "application/x-protobuf";
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Close alone: after a Stop, Close removes the prefix again by binding its port anew, and the
        // freed port may be another socket's by then ("Address already in use").
        try
        {
            _listener.Close();
        }
        catch (HttpListenerException)
        {
            // Nothing of ours is left open on that port.
        }

        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}

/// <summary>One decoded ExportMetricsServiceRequest: each number data point, and the resource's string attributes.</summary>
public sealed record MetricsExport(DateTime Received, IReadOnlyList<MetricPoint> Points, IReadOnlyDictionary<string, string> Resource)
{
    /// <summary>The value of the point of <paramref name="metric"/> with exactly <paramref name="attributes"/>, or null.</summary>
    public double? Value(string metric, IReadOnlyDictionary<string, string> attributes) =>
        Points.FirstOrDefault(p => p.Metric == metric && p.Attributes.Count == attributes.Count && attributes.All(a => p.Attributes.GetValueOrDefault(a.Key) == a.Value))?.Value;

    public bool Has(string metric) => Points.Any(p => p.Metric == metric);

    // The fields read, from opentelemetry-proto (collector/metrics/v1, metrics/v1, common/v1).
    public static MetricsExport Decode(byte[] request)
    {
        var points = new List<MetricPoint>();
        var resource = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var resourceMetrics in Protobuf.Messages(request, 1))
        {
            foreach (var attribute in Protobuf.Messages(Protobuf.Messages(resourceMetrics, 1).FirstOrDefault() ?? [], 1))
            {
                var (key, value) = Attribute(attribute);
                if (value is string text)
                {
                    resource[key] = text;
                }
            }

            foreach (var scopeMetrics in Protobuf.Messages(resourceMetrics, 2))
            {
                foreach (var metric in Protobuf.Messages(scopeMetrics, 2))
                {
                    string name = Encoding.UTF8.GetString(Protobuf.Messages(metric, 1).Single());
                    foreach (var data in Protobuf.Messages(metric, 5).Concat(Protobuf.Messages(metric, 7)))
                    {
                        foreach (var point in Protobuf.Messages(data, 1))
                        {
                            points.Add(Point(name, point));
                        }
                    }
                }
            }
        }

        return new MetricsExport(DateTime.UtcNow, points, resource);
    }

    private static MetricPoint Point(string metric, byte[] point)
    {
        double value = 0;
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (field, wire, number, bytes) in Protobuf.Fields(point))
        {
            if (field == 4 && wire == 1)
            {
                value = BitConverter.Int64BitsToDouble((long)number);
            }
            else if (field == 6 && wire == 1)
            {
                value = (long)number;
            }
            else if (field == 7 && wire == 2)
            {
                var (key, attribute) = Attribute(bytes!);
                attributes[key] = attribute?.ToString() ?? "";
            }
        }

        return new MetricPoint(metric, attributes, value);
    }

    private static (string Key, object? Value) Attribute(byte[] keyValue)
    {
        string key = Encoding.UTF8.GetString(Protobuf.Messages(keyValue, 1).Single());
        object? value = null;
        foreach (var any in Protobuf.Messages(keyValue, 2))
        {
            foreach (var (field, wire, number, bytes) in Protobuf.Fields(any))
            {
                value = (field, wire) switch
                {
                    (1, 2) => Encoding.UTF8.GetString(bytes!),
                    (3, 0) => (long)number,
                    _ => value,
                };
            }
        }

        return (key, value);
    }
}

public sealed record MetricPoint(string Metric, IReadOnlyDictionary<string, string> Attributes, double Value);

/// <summary>The protobuf wire format, read field by field (varint, fixed64, length-delimited, fixed32).</summary>
internal static class Protobuf
{
    public static IEnumerable<byte[]> Messages(byte[] message, int field) =>
        Fields(message).Where(f => f.Field == field && f.Wire == 2).Select(f => f.Bytes!);

    public static List<(int Field, int Wire, ulong Number, byte[]? Bytes)> Fields(byte[] message)
    {
        var fields = new List<(int, int, ulong, byte[]?)>();
        int at = 0;
        while (at < message.Length)
        {
            ulong tag = Varint(message, ref at);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    fields.Add((field, wire, Varint(message, ref at), null));
                    break;
                case 1:
                    fields.Add((field, wire, BitConverter.ToUInt64(message, at), null));
                    at += 8;
                    break;
                case 2:
                    int length = checked((int)Varint(message, ref at));
                    Assert.InRange(length, 0, message.Length - at);
                    fields.Add((field, wire, 0, message[at..(at + length)]));
                    at += length;
                    break;
                case 5:
                    fields.Add((field, wire, BitConverter.ToUInt32(message, at), null));
                    at += 4;
                    break;
                default:
                    Assert.Fail($"protobuf wire type {wire} of field {field}");
                    break;
            }
        }

        return fields;
    }

    private static ulong Varint(byte[] message, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = message[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("a varint longer than 10 bytes");
    }
}
