using System.Globalization;
using System.Text.Json;
using OmniStore.Transport;

namespace OmniStore.Cli.Bench;

/// <summary>
/// One connection of a <c>bench link</c> client run: what it sent, what the server says it read and
/// over how long, the server's process CPU time around it, and the transport's state at the end.
/// </summary>
internal sealed record LinkFlowResult
{
    public required int Index { get; init; }

    /// <summary>Stream bytes the client wrote (the hello excluded).</summary>
    public required long BytesSent { get; init; }

    /// <summary>Stream bytes the server read (the hello excluded), from its report.</summary>
    public required long ServerBytes { get; init; }

    /// <summary>The server's receive time: from the hello to the end of the stream.</summary>
    public required double ServerSeconds { get; init; }

    /// <summary>The client's time: from its first write to the server's report.</summary>
    public required double ClientSeconds { get; init; }

    /// <summary>The server process's CPU time (user + system) when it read the hello, and when the stream ended, in seconds.</summary>
    public required double ServerCpuStart { get; init; }

    public required double ServerCpuEnd { get; init; }

    /// <summary>The sender's transport state once the server's report came (rudp), else null.</summary>
    public TransportStatistics? Statistics { get; init; }

    /// <summary>Bytes the server read per second of its receive time, in Mbit/s.</summary>
    public double GoodputMbps => LinkResult.Mbps(ServerBytes, ServerSeconds > 0.001 ? ServerSeconds : ClientSeconds);
}

/// <summary>What one run of <c>omnistore bench link --connect</c> measured.</summary>
internal sealed record LinkResult
{
    public required NodeAddress Address { get; init; }

    public required LinkSettings Settings { get; init; }

    public required IReadOnlyList<LinkFlowResult> Flows { get; init; }

    /// <summary>The client process's CPU time (user + system) from before connecting to the last report.</summary>
    public required double ClientCpuSeconds { get; init; }

    /// <summary>From the first write to the last report.</summary>
    public required double WallSeconds { get; init; }

    /// <summary>The congestion controller rudp was told to use (OMNISTORE_RUDP_CC), if any.</summary>
    public string? CongestionControl { get; init; }

    public long ServerBytes => Flows.Sum(f => f.ServerBytes);

    public long BytesSent => Flows.Sum(f => f.BytesSent);

    public bool BytesMatch => Flows.All(f => f.ServerBytes == f.BytesSent);

    /// <summary>Every connection's goodput, summed (iperf3's SUM line).</summary>
    public double GoodputMbps => Flows.Sum(f => f.GoodputMbps);

    /// <summary>The server's CPU time over the run: from the first hello to the last end of stream (connections overlap).</summary>
    public double ServerCpuSeconds => Flows.Count == 0 ? 0 : Math.Max(0, Flows.Max(f => f.ServerCpuEnd) - Flows.Min(f => f.ServerCpuStart));

    public double ClientCpuSecondsPerGB => PerGB(ClientCpuSeconds, BytesSent);

    public double ServerCpuSecondsPerGB => PerGB(ServerCpuSeconds, ServerBytes);

    /// <summary>Jain's fairness index of the connections' goodputs: 1 when equal, 1/n when one has it all.</summary>
    public double JainIndex => Jain(Flows.Select(f => f.GoodputMbps).ToArray());

    public static double Jain(IReadOnlyList<double> x)
    {
        double sum = x.Sum();
        double squares = x.Sum(v => v * v);
        return x.Count == 0 || squares <= 0 ? 0 : sum * sum / (x.Count * squares);
    }

    public static double Mbps(long bytes, double seconds) => seconds > 0 ? bytes * 8 / seconds / 1e6 : 0;

    public static double PerGB(double cpuSeconds, long bytes) => bytes > 0 ? cpuSeconds / (bytes / 1e9) : 0;

    public void WriteText(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var c = CultureInfo.InvariantCulture;
        string limit = Settings.Bytes is { } b ? $"{ByteSize.Format(b)} per connection" : string.Create(c, $"{Settings.Duration.TotalSeconds:0.###} s");
        string cc = CongestionControl is null ? "" : $", OMNISTORE_RUDP_CC={CongestionControl}";
        output.WriteLine(string.Create(c, $"link: {Address}, {Flows.Count} connection{(Flows.Count == 1 ? "" : "s")}, {limit}{cc}"));
        output.WriteLine(string.Create(c, $"  goodput  {GoodputMbps:0.0} Mbit/s ({ServerBytes:N0} bytes read by the server; client wall time {WallSeconds:0.000} s){(BytesMatch ? "" : $"; SENT {BytesSent:N0}: MISMATCH")}"));
        output.WriteLine(string.Create(c, $"  cpu      client {ClientCpuSeconds:0.000} s ({ClientCpuSecondsPerGB:0.00} s/GB), server {ServerCpuSeconds:0.000} s ({ServerCpuSecondsPerGB:0.00} s/GB)"));
        foreach (var flow in Flows)
        {
            string prefix = Flows.Count == 1 ? "  " : string.Create(c, $"  #{flow.Index}  {flow.GoodputMbps:0.0} Mbit/s, {flow.ServerBytes:N0} bytes in {flow.ServerSeconds:0.000} s; ");
            if (flow.Statistics is { } s)
            {
                output.WriteLine(prefix + Describe(s, flow.BytesSent));
            }
            else if (Flows.Count > 1)
            {
                output.WriteLine(prefix.TrimEnd(' ', ';'));
            }
        }

        if (Flows.Count > 1)
        {
            output.WriteLine(string.Create(c, $"  fairness Jain's index {JainIndex:0.0000} over {Flows.Count} connections"));
        }
    }

    /// <summary>One line of a link's transport state, for text output.</summary>
    public static string Describe(TransportStatistics s, long streamBytes) => string.Create(
        CultureInfo.InvariantCulture,
        $"{s.Congestion}: rtt {s.RttMs:0.0} ms (min {s.MinRttMs:0.0}), loss {s.LossRatio:0.0000} ({s.PacketsLost:N0} of {s.PacketsSent:N0} packets), retransmitted {ByteSize.Format(s.BytesRetransmitted)} ({Ratio(s.BytesRetransmitted, streamBytes):0.0000} of the stream), path MTU {s.PathMtu}, cwnd {ByteSize.Format(s.CongestionWindow)}, pacing {s.PacingRate * 8 / 1e6:0.0} Mbit/s, in flight {ByteSize.Format(s.BytesInFlight)}, socket {s.SocketPath}");

    public void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteString("operation", "link");
        writer.WriteString("address", Address.ToString());
        writer.WriteString("transport", Address.Scheme);
        if (CongestionControl is not null)
        {
            writer.WriteString("congestionControl", CongestionControl);
        }

        writer.WriteNumber("connections", Flows.Count);
        if (Settings.Bytes is { } bytes)
        {
            writer.WriteNumber("bytesPerConnection", bytes);
        }
        else
        {
            writer.WriteNumber("seconds", Settings.Duration.TotalSeconds);
        }

        writer.WriteNumber("bytes", ServerBytes);
        writer.WriteNumber("bytesSent", BytesSent);
        writer.WriteBoolean("bytesMatch", BytesMatch);
        writer.WriteNumber("goodputMbps", Math.Round(GoodputMbps, 3));
        writer.WriteNumber("wallSeconds", Math.Round(WallSeconds, 6));
        writer.WriteNumber("cpuSeconds", Math.Round(ClientCpuSeconds, 4));
        writer.WriteNumber("cpuSecondsPerGB", Math.Round(ClientCpuSecondsPerGB, 4));
        writer.WriteNumber("serverCpuSeconds", Math.Round(ServerCpuSeconds, 4));
        writer.WriteNumber("serverCpuSecondsPerGB", Math.Round(ServerCpuSecondsPerGB, 4));
        writer.WriteNumber("jainIndex", Math.Round(JainIndex, 6));
        writer.WriteStartArray("flows");
        foreach (var flow in Flows)
        {
            writer.WriteStartObject();
            writer.WriteNumber("index", flow.Index);
            writer.WriteNumber("bytes", flow.ServerBytes);
            writer.WriteNumber("bytesSent", flow.BytesSent);
            writer.WriteNumber("serverSeconds", Math.Round(flow.ServerSeconds, 6));
            writer.WriteNumber("clientSeconds", Math.Round(flow.ClientSeconds, 6));
            writer.WriteNumber("goodputMbps", Math.Round(flow.GoodputMbps, 3));
            writer.WriteNumber("serverCpuSeconds", Math.Round(flow.ServerCpuEnd - flow.ServerCpuStart, 4));
            if (flow.Statistics is { } s)
            {
                writer.WritePropertyName("transportStatistics");
                WriteStatistics(writer, s, flow.BytesSent);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();

        // The first connection's transport state at the top level too, for scripts.
        if (Flows.Count > 0 && Flows[0].Statistics is { } first)
        {
            writer.WriteNumber("rttMs", Math.Round(first.RttMs, 3));
            writer.WriteNumber("lossRatio", Flows.Sum(f => f.Statistics?.PacketsSent ?? 0) is var sent and > 0 ? Math.Round((double)Flows.Sum(f => f.Statistics?.PacketsLost ?? 0) / sent, 6) : 0);
            writer.WriteNumber("retransmittedRatio", Math.Round(Ratio(Flows.Sum(f => f.Statistics?.BytesRetransmitted ?? 0), BytesSent), 6));
            writer.WriteNumber("pathMtu", first.PathMtu);
            writer.WriteString("congestion", first.Congestion);
        }
    }

    public static void WriteStatistics(Utf8JsonWriter writer, TransportStatistics s, long streamBytes)
    {
        writer.WriteStartObject();
        writer.WriteNumber("rttMs", Math.Round(s.RttMs, 3));
        writer.WriteNumber("minRttMs", Math.Round(s.MinRttMs, 3));
        writer.WriteString("congestion", s.Congestion);
        writer.WriteNumber("congestionWindow", s.CongestionWindow);
        writer.WriteNumber("pacingRateMbps", Math.Round(s.PacingRate * 8 / 1e6, 3));
        writer.WriteNumber("bytesInFlight", s.BytesInFlight);
        writer.WriteNumber("packetsSent", s.PacketsSent);
        writer.WriteNumber("packetsLost", s.PacketsLost);
        writer.WriteNumber("lossRatio", s.LossRatio);
        writer.WriteNumber("bytesRetransmitted", s.BytesRetransmitted);
        writer.WriteNumber("retransmittedRatio", Math.Round(Ratio(s.BytesRetransmitted, streamBytes), 6));
        writer.WriteNumber("pathMtu", s.PathMtu);
        writer.WriteNumber("receiveWindow", s.ReceiveWindow);
        writer.WriteString("socketPath", s.SocketPath);
        writer.WriteEndObject();
    }

    private static double Ratio(long part, long whole) => whole > 0 ? (double)part / whole : 0;
}
