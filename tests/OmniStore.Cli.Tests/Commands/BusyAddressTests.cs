using System.Net;
using System.Net.Sockets;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore relay</c> on an address something else listens on fails at start, with exit 9
/// (Unavailable) and one line naming the address, for the node's port and the status listener's
/// alike; a relay restarted on its ports right after it stopped binds them again.
/// </summary>
public sealed class BusyAddressTests : IDisposable
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    [Fact]
    public async Task ARelayOnTheNodePortOfAnother_ExitsWithUnavailable_InOneLineNamingTheAddress()
    {
        await using var first = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--site", "first", "--data-dir", _dir.Sub("first"));

        // Before the fix it started, printed "listening on" and shared the port (a run that never
        // ends here is killed and fails the test).
        var second = await CliRunner.RunAsync(["relay", "--listen", first.Address, "--site", "second", "--data-dir", _dir.Sub("second")], Data, timeout: RunTimeout);

        Assert.Equal(ExitCode.Of(OmniStoreError.Unavailable), second.ExitCode);
        Assert.DoesNotContain("listening on", second.Output, StringComparison.Ordinal);
        string line = OneErrorLine(second);
        Assert.Contains(first.Address, line, StringComparison.Ordinal);
        Assert.Contains("in use", line, StringComparison.Ordinal);

        // The first one still has the port to itself.
        var put = await CliRunner.RunAsync(["put", "x", "-", "--relay", first.Address, "--quiet"], Data, stdin: [7]);
        Assert.True(put.ExitCode == 0, put.ToString());
    }

    [Fact]
    public async Task ARelayOnAStatusPortInUse_ExitsWithUnavailable_InOneLineNamingTheAddress_WithoutAStackTraceInTheLog()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        string status = $"http://127.0.0.1:{((IPEndPoint)holder.LocalEndpoint).Port}";

        var relay = await CliRunner.RunAsync(["relay", "--listen", "tcp://127.0.0.1:0", "--status-listen", status, "--data-dir", _dir.Sub("node")], Data, timeout: RunTimeout);

        Assert.Equal(ExitCode.Of(OmniStoreError.Unavailable), relay.ExitCode);
        Assert.DoesNotContain("status on", relay.Output, StringComparison.Ordinal);
        string line = OneErrorLine(relay);
        Assert.Contains(status, line, StringComparison.Ordinal);
        Assert.Contains("--status-listen", line, StringComparison.Ordinal);
        Assert.Contains("in use", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARelayRestartedOnItsPorts_RightAfterItStopped_BindsThemAgain()
    {
        string directory = _dir.Sub("node");
        await using var first = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--status-listen", "http://127.0.0.1:0", "--data-dir", directory);
        string node = first.Address;
        string status = first.StatusUrl!;

        var put = await CliRunner.RunAsync(["put", "x", "-", "--relay", node, "--quiet"], Data, stdin: [7]);
        Assert.True(put.ExitCode == 0, put.ToString());

        // Connections open while it stops: it closes them first, so they linger on its ports
        // (FIN_WAIT, TIME_WAIT) when the next one binds.
        var ct = TestContext.Current.CancellationToken;
        using (var toNode = new TcpClient())
        using (var toStatus = new TcpClient())
        {
            await toNode.ConnectAsync("127.0.0.1", new Uri(node).Port, ct).AsTask().WaitAsync(RunTimeout, ct);
            await toStatus.ConnectAsync("127.0.0.1", new Uri(status).Port, ct).AsTask().WaitAsync(RunTimeout, ct);
            Assert.Equal(0, await first.TerminateAsync());
        }

        await using var again = await DaemonProcess.StartAsync(Data, "--listen", node, "--status-listen", status, "--data-dir", directory);

        Assert.Equal(node, again.Address);
        Assert.Equal(status, again.StatusUrl);
        var get = await CliRunner.RunAsync(["get", "x", "--relay", node], Data);
        Assert.Equal(new byte[] { 7 }, get.StandardOutput);
    }

    /// <summary>The single <c>omnistore: error:</c> line of a failed start; the daemon's log lines before it carry no stack trace and no failure.</summary>
    private static string OneErrorLine(CliResult result)
    {
        string line = Assert.Single(result.ErrorLines, l => l.StartsWith("omnistore: error: ", StringComparison.Ordinal));
        Assert.DoesNotContain(result.ErrorLines, l => l.StartsWith("   at ", StringComparison.Ordinal) || l.Contains(" ---> ", StringComparison.Ordinal) || l.Contains("Unhandled exception", StringComparison.Ordinal));
        Assert.DoesNotContain(result.ErrorLines, l => l.Contains(" fail: ", StringComparison.Ordinal) || l.Contains(" crit: ", StringComparison.Ordinal));
        Assert.All(result.ErrorLines, l => Assert.True(l.Length < 400, $"a long stderr line: {l}"));
        return line;
    }
}
