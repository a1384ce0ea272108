using System.Globalization;
using System.Text;

namespace OmniStore.Cli.Bench;

/// <summary>The markdown table of a staging sweep, with what it ran on and how to run it again.</summary>
internal static class StagingReport
{
    public static string Markdown(StagingSettings settings, string network, string machine, DateTimeOffset started, IReadOnlyList<StagingRunResult> results)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine(c, $"# Staging benchmark, {started:yyyy-MM-dd HH:mm} UTC");
        text.AppendLine();
        text.AppendLine(c, $"- command: `{settings.CommandLine}`");
        text.AppendLine(c, $"- network: {network}");
        text.AppendLine(c, $"- machine: {machine}");
        text.AppendLine(c, $"- object: {settings.Size:N0} bytes; {settings.Sites} sites; workers spread evenly over the sites");
        text.AppendLine("- time: from the start of the Put to the last worker holding verified data");
        bool lab = results.Any(r => r.WanBytes is not null);
        text.AppendLine(lab
            ? $"- WAN bytes: kernel interface counters of each WAN link during the run, as IP bytes and as TCP payload (IP bytes less {LinkBytes.TcpIpHeaderBytes} bytes of IPv4 and TCP headers per packet); MB = 10^6 bytes"
            : "- WAN bytes: the nodes' own link counters (root: sent to its children; relays: received from the root); there is no WAN on loopback");
        text.AppendLine();
        text.Append("| mode | workers | time (s) | floor (s) | time / floor | put (s) | ");
        text.Append(lab ? "out of master site, IP (MB) | into each site, IP (MB) | into each site, payload (MB) |" : "root sent (MB) | relays received (MB) |");
        text.AppendLine(" CPU (s) | failed |");
        text.AppendLine(lab ? "|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|" : "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
        foreach (var r in results)
        {
            string floor = r.FloorSeconds is { } f ? f.ToString("0.00", c) : "-";
            string ratio = r.TimeOverFloor is { } q ? q.ToString("0.00", c) : "-";
            string outBytes, inBytes;
            if (r.WanBytes is { } wan)
            {
                outBytes = Mb(wan[0].Out);
                inBytes = string.Join(" / ", wan.Skip(1).Select(l => Mb(l.In))) + " | " + string.Join(" / ", wan.Skip(1).Select(l => Mb(l.PayloadIn)));
            }
            else
            {
                outBytes = Mb(r.RootBytesOut);
                inBytes = r.RelayBytesIn.Count == 0 ? "-" : string.Join(" / ", r.RelayBytesIn.Select(Mb));
            }

            text.AppendLine(c, $"| {r.Mode.Name()} | {r.Workers} | {r.Seconds:0.00} | {floor} | {ratio} | {r.PutSeconds:0.00} | {outBytes} | {inBytes} | {r.CpuSeconds:0.0} | {r.FailedWorkers} |");
        }

        return text.ToString();

        string Mb(long bytes) => (bytes / 1e6).ToString("0.0", c);
    }
}
