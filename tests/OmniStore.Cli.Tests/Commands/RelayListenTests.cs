using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore relay --listen</c> given several times: one <c>listening on</c> line per address,
/// clients get through each, and status shows them all.
/// </summary>
public sealed class RelayListenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    [Fact]
    public async Task TwoListenOptions_PrintTwoListeningLines_AndAClientGetsThroughEach()
    {
        // 127.0.0.2 is loopback too (127.0.0.0/8), and another address than 127.0.0.1.
        await using var root = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--listen", "tcp://127.0.0.2:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--status-listen", "http://127.0.0.1:0");

        var addresses = root.Addresses;
        Assert.Equal(2, addresses.Count);
        Assert.Matches(@"^tcp://127\.0\.0\.1:[1-9][0-9]*$", addresses[0]);
        Assert.Matches(@"^tcp://127\.0\.0\.2:[1-9][0-9]*$", addresses[1]);
        Assert.Equal(addresses[0], root.Address);
        var printed = root.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("listening on ", StringComparison.Ordinal));
        Assert.Equal(addresses.Select(a => $"listening on {a}"), printed);

        var put = await CliRunner.RunAsync(["put", "twice", "-", "--relay", addresses[0], "--quiet"], Data, stdin: [1, 2, 3]);
        Assert.True(put.ExitCode == 0, put.ToString());
        var get = await CliRunner.RunAsync(["get", "twice", "--relay", addresses[1]], Data);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal(new byte[] { 1, 2, 3 }, get.StandardOutput);

        var json = await CliRunner.RunAsync(["status", "--relay", root.StatusUrl!, "--json"], "unused");
        Assert.True(json.ExitCode == 0, json.ToString());
        using (var status = JsonDocument.Parse(json.Output))
        {
            Assert.Equal(addresses[0], status.RootElement.GetProperty("listen").GetString());
            Assert.Equal(addresses, status.RootElement.GetProperty("listenAddresses").EnumerateArray().Select(e => e.GetString()));
        }

        var text = await CliRunner.RunAsync(["status", "--relay", root.StatusUrl!], "unused");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains($", listening on {addresses[0]}, {addresses[1]}{Environment.NewLine}", text.Output, StringComparison.Ordinal);

        Assert.Equal(0, await root.TerminateAsync());
        var logged = root.StandardError.Split('\n').Where(l => l.Contains(" listening on ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, logged.Count);
        Assert.Contains($"listening on {addresses[0]} ", logged[0], StringComparison.Ordinal);
        Assert.Contains($"listening on {addresses[1]} ", logged[1], StringComparison.Ordinal);
    }
}
