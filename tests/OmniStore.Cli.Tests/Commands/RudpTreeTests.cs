using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// A tree whose every link is rudp, as users run it: a root and a relay daemon listening on
/// <c>rudp://</c> (the relay's parent named <c>rudp://</c>), the client commands through the relay,
/// and status showing each link's transport state. A node may listen on tcp and rudp at once.
/// </summary>
public sealed class RudpTreeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    [Fact]
    public async Task ATreeOverRudp_PutsAndGetsThroughTheRelay_AndStatusShowsTheRudpLinks()
    {
        var data = new byte[(5 << 20) + 77];
        new Random(9).NextBytes(data);
        await using var root = await DaemonProcess.StartAsync(Data, ["--listen", "rudp://127.0.0.1:0", "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--open-relays"]);
        Assert.StartsWith("rudp://", root.Address, StringComparison.Ordinal);
        await using var relay = await DaemonProcess.StartAsync(Data, ["--listen", "rudp://127.0.0.1:0", "--parent", root.Address, "--site", "site-a", "--cache-size", "128M", "--data-dir", _dir.Sub("relay"), "--status-listen", "http://127.0.0.1:0"]);
        Assert.StartsWith("rudp://", relay.Address, StringComparison.Ordinal);

        var put = await CliRunner.RunAsync(["put", "shared/input", "-", "--relay", relay.Address, "--quiet"], Data, stdin: data);
        Assert.True(put.ExitCode == 0, put.ToString());
        var get = await CliRunner.RunAsync(Data, "get", "shared/input", "--relay", relay.Address);
        Assert.True(get.ExitCode == 0, get.StandardError);
        Assert.Equal(data, get.StandardOutput);

        var status = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!, "--json"], "unused");
        Assert.True(status.ExitCode == 0, status.ToString());
        using var json = JsonDocument.Parse(status.Output);
        var parentLink = json.RootElement.GetProperty("parent").GetProperty("link");
        Assert.Equal("rudp", parentLink.GetProperty("transport").GetString());
        var state = parentLink.GetProperty("transportState");
        Assert.True(state.GetProperty("packetsSent").GetInt64() > 0);
        Assert.StartsWith("bbr/", state.GetProperty("congestion").GetString(), StringComparison.Ordinal);

        var text = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!], "unused");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("rudp direct", text.Output, StringComparison.Ordinal);
        Assert.Contains("path MTU", text.Output, StringComparison.Ordinal);

        var metrics = await new HttpClient().GetStringAsync(new Uri(new Uri(relay.StatusUrl!), "/metrics"), TestContext.Current.CancellationToken);
        Assert.Contains("omnistore_transport_congestion_window_bytes{link=\"parent\"", metrics, StringComparison.Ordinal);
    }
}
