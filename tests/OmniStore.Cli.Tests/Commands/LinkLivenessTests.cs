using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// Every link measures itself: a relay's status shows its parent link's transport, path and
/// round-trip time, and a parent that freezes (SIGSTOP: no FIN, no RST, just silence) is declared
/// dead within the idle timeout, with nothing of ours pending on the link.
/// </summary>
public sealed class LinkLivenessTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ARelaysStatus_ShowsItsParentLinksPathAndRtt_AndAFrozenParentIsDeclaredDeadWithinTheIdleTimeout()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "freezes the parent with SIGSTOP");
        var ct = TestContext.Current.CancellationToken;
        string data = _dir.Sub("client");
        await using var root = await DaemonProcess.StartAsync(data, ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--open-relays"]);
        await using var relay = await DaemonProcess.StartAsync(data, ["--listen", "tcp://127.0.0.1:0", "--parent", root.Address, "--site", "site-a", "--cache-size", "128M",
            "--data-dir", _dir.Sub("relay"), "--status-listen", "http://127.0.0.1:0", "--keepalive-interval", "200ms", "--idle-timeout", "2s"]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var statusUrl = new Uri(new Uri(relay.StatusUrl!), "/status");

        // The idle link is pinged, so its RTT is measured without any traffic of ours.
        var parent = await PollAsync(http, statusUrl, p => p.GetProperty("connected").GetBoolean() && p.GetProperty("link").GetProperty("rttMs").ValueKind == JsonValueKind.Number, "the parent link's RTT", ct);
        var link = parent.GetProperty("link");
        Assert.Equal("tcp", link.GetProperty("transport").GetString());
        Assert.Equal("direct", link.GetProperty("path").GetString());
        Assert.EndsWith(":" + new Uri(root.Address).Port.ToString(CultureInfo.InvariantCulture), link.GetProperty("remoteEndPoint").GetString(), StringComparison.Ordinal);
        Assert.InRange(link.GetProperty("rttMs").GetDouble(), 0, 2000);
        Assert.InRange(link.GetProperty("minRttMs").GetDouble(), 0, link.GetProperty("rttMs").GetDouble() + 0.001);

        var text = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!], data);
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.True(text.Output.Contains("tcp direct to 127.0.0.1:", StringComparison.Ordinal), text.Output);
        Assert.Contains("rtt ", text.Output, StringComparison.Ordinal);

        Signal("STOP", root.ProcessId);
        var frozen = Stopwatch.StartNew();
        try
        {
            await PollAsync(http, statusUrl, p => !p.GetProperty("connected").GetBoolean(), "the relay declaring its frozen parent dead", ct);
            Assert.True(frozen.Elapsed < TimeSpan.FromSeconds(2 + 3), $"declared dead after {frozen.Elapsed.TotalSeconds:0.0} s with an idle timeout of 2 s");
        }
        finally
        {
            Signal("CONT", root.ProcessId);
        }

        Assert.Contains("parent", relay.StandardError, StringComparison.OrdinalIgnoreCase);
    }

    private static void Signal(string signal, int processId)
    {
        using var kill = Process.Start("kill", [$"-{signal}", processId.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    private static async Task<JsonElement> PollAsync(HttpClient http, Uri url, Func<JsonElement, bool> done, string what, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Timeout;
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            last = await http.GetStringAsync(url, ct);
            var parent = JsonDocument.Parse(last).RootElement.GetProperty("parent");
            if (done(parent))
            {
                return parent.Clone();
            }

            await Task.Delay(50, ct);
        }

        Assert.Fail($"timed out waiting for {what}; last status: {last}");
        return default;
    }
}
