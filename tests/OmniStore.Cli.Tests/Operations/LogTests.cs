using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Operations;

/// <summary>
/// The daemon's log for operators (docs/operations.md, "Logs"): <c>--log-format json</c> writes one
/// object a line with the event id, node id, site and peer; clients coming and going are at Debug,
/// and a summary line per interval at Information says what the node did instead.
/// </summary>
public sealed class LogTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    [Fact]
    public async Task JsonFormat_WritesOneObjectALine_WithEventIdNodeIdSiteAndPeer()
    {
        await using var root = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--site", "json-site", "--data-dir", _dir.Sub("root"), "--log-format", "json", "--log-level", "Debug");
        string nodeId = root.StandardOutput.Split('\n')[0]["node id ".Length..].Trim();
        var put = await CliRunner.RunAsync(["put", "x", "-", "--relay", root.Address, "--quiet"], Data, stdin: [1, 2, 3]);
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.Equal(0, await root.TerminateAsync());

        var lines = root.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        var events = lines.Select(line =>
        {
            try
            {
                return JsonDocument.Parse(line).RootElement;
            }
            catch (JsonException ex)
            {
                Assert.Fail($"not one JSON object: {line} ({ex.Message})");
                throw;
            }
        }).ToList();
        foreach (var e in events)
        {
            Assert.True(e.GetProperty("eventId").GetInt32() >= 0);
            Assert.Equal("json-site", e.GetProperty("site").GetString());
            Assert.True(DateTimeOffset.TryParse(e.GetProperty("time").GetString(), System.Globalization.CultureInfo.InvariantCulture, out _));
            Assert.False(string.IsNullOrEmpty(e.GetProperty("message").GetString()));
        }

        var accepted = Assert.Single(events, e => e.GetProperty("eventId").GetInt32() == 3004);
        Assert.Equal("debug", accepted.GetProperty("level").GetString());
        Assert.Equal("ChildConnected", accepted.GetProperty("event").GetString());
        Assert.Equal(nodeId, accepted.GetProperty("nodeId").GetString());
        Assert.StartsWith("client ", accepted.GetProperty("peer").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("127.0.0.1:", accepted.GetProperty("fields").GetProperty("EndPoint").GetString(), StringComparison.Ordinal);
        var stopped = Assert.Single(events, e => e.GetProperty("eventId").GetInt32() == 4002);
        Assert.Equal("info", stopped.GetProperty("level").GetString());
        Assert.Equal(nodeId, stopped.GetProperty("nodeId").GetString());
    }

    [Fact]
    public async Task AtInformation_ClientsComingAndGoingAreNotLogged_ASummaryIs_AndARelayJoiningIs()
    {
        await using var root = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--open-relays", "--data-dir", _dir.Sub("root"), "--log-summary-interval", "500ms");
        for (int i = 0; i < 3; i++)
        {
            var put = await CliRunner.RunAsync(["put", $"x{i}", "-", "--relay", root.Address, "--quiet"], Data, stdin: [1, 2, 3]);
            Assert.True(put.ExitCode == 0, put.ToString());
        }

        await using (var relay = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--parent", root.Address, "--cache-size", "128M", "--data-dir", _dir.Sub("relay")))
        {
            await WaitForAsync(root, "[3004] Accepted relay ");
            Assert.Equal(0, await relay.TerminateAsync());
        }

        // Three clients and a relay, each accepted and closed: the summaries count them all.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (Sum(Summaries(root), "closed") < 4)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the summaries did not count 4 closed connections within 20 s; {root}");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.Equal(0, await root.TerminateAsync());
        var summaries = Summaries(root);
        Assert.All(summaries, l => Assert.Matches(@"info: OmniStore\.Cli\.Relay\[4006\] In the last 0\.5 s: \d+ connections accepted, \d+ closed, \d+ open now; \d+ requests served; \d+ bytes sent to children, \d+ received from them$", l));
        Assert.Equal(4, Sum(summaries, "connections accepted"));
        Assert.Equal(4, Sum(summaries, "closed"));
        Assert.True(Sum(summaries, "requests served") >= 3, string.Join('\n', summaries));
        Assert.DoesNotContain(root.StandardError.Split('\n'), l => l.Contains("] Accepted client ", StringComparison.Ordinal) || l.Contains("[3005]", StringComparison.Ordinal) && l.Contains("client", StringComparison.Ordinal) || l.Contains("[3008]", StringComparison.Ordinal));
    }

    private static List<string> Summaries(DaemonProcess node) =>
        [.. node.StandardError.Split('\n').Where(l => l.Contains("[4006]", StringComparison.Ordinal)).Select(l => l.TrimEnd('\r'))];

    /// <summary>The sum over <paramref name="summaries"/> of the count before <paramref name="what"/>.</summary>
    private static int Sum(List<string> summaries, string what) =>
        summaries.Sum(l => int.Parse(System.Text.RegularExpressions.Regex.Match(l, $@"(\d+) {what}").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    private static async Task WaitForAsync(DaemonProcess node, string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!node.StandardError.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no '{text}' in the log within 20 s; {node}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
