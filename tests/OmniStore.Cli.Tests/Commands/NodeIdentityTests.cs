using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore relay</c> prints its node id, keeps it across restarts on its data directory, and
/// shows it (and its peers' ids) in <c>/status</c>; a damaged key stops it with one line.
/// </summary>
public sealed class NodeIdentityTests : IDisposable
{
    private const string NodeIdPrefix = "node id ";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    [Fact]
    public async Task TheRelayPrintsItsNodeId_KeepsItAcrossARestart_AndStatusShowsTheIdsOfBothEnds()
    {
        string rootData = _dir.Sub("root");
        string relaySecret = _dir.Sub("relay.secret");
        await File.WriteAllTextAsync(relaySecret, "the tree's relay secret", TestContext.Current.CancellationToken);
        string[] rootArgs = ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", rootData, "--relay-secret-file", relaySecret, "--status-listen", "http://127.0.0.1:0"];

        string rootId;
        await using (var root = await DaemonProcess.StartAsync(Data, rootArgs))
        {
            rootId = NodeIdOf(root);
            Assert.Matches("^[0-9a-f]{32}$", rootId);
            Assert.Equal(0, await root.TerminateAsync());
        }

        await using var again = await DaemonProcess.StartAsync(Data, rootArgs);
        Assert.Equal(rootId, NodeIdOf(again));

        await using var relay = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--parent", again.Address, "--site", "site-a", "--cache-size", "128M", "--data-dir", _dir.Sub("relay"), "--relay-secret-file", relaySecret, "--status-listen", "http://127.0.0.1:0");
        string relayId = NodeIdOf(relay);
        Assert.NotEqual(rootId, relayId);

        using (var status = await StatusJsonAsync(relay))
        {
            Assert.Equal(relayId, status.RootElement.GetProperty("nodeId").GetString());
            Assert.Equal(rootId, status.RootElement.GetProperty("parent").GetProperty("nodeId").GetString());
        }

        // The root counts the relay as its child once its side of the handshake is done too.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            using var status = await StatusJsonAsync(again);
            Assert.Equal(rootId, status.RootElement.GetProperty("nodeId").GetString());
            var children = status.RootElement.GetProperty("children").EnumerateArray().ToList();
            if (children.Count == 1 || DateTime.UtcNow > deadline)
            {
                Assert.Equal(relayId, Assert.Single(children).GetProperty("nodeId").GetString());
                break;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        // A client that names the node it wants gets that node, or Unauthorized.
        var pinned = await CliRunner.RunAsync(["put", "pinned", "-", "--relay", $"{relay.Address}#{relayId}", "--quiet"], Data, stdin: [1, 2, 3]);
        Assert.True(pinned.ExitCode == 0, pinned.ToString());
        var wrong = await CliRunner.RunAsync(["get", "pinned", "--relay", $"{relay.Address}#{rootId}"], Data);
        Assert.True(wrong.ExitCode == ExitCode.Of(OmniStoreError.Unauthorized), wrong.ToString());
        Assert.Contains($"expected node {rootId}, reached node {relayId}", Assert.Single(wrong.ErrorLines), StringComparison.Ordinal);

        var text = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!], "unused");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.StartsWith($"relay {relayId} at site site-a", text.Output, StringComparison.Ordinal);
        Assert.Contains($"parent:   {again.Address}, connected to node {rootId}", text.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADamagedNodeKey_StopsTheRelayWithOneLine_AndTheCorruptExitCode()
    {
        string rootData = _dir.Sub("root");
        string[] args = ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", rootData];
        await using (var root = await DaemonProcess.StartAsync(Data, args))
        {
            Assert.Equal(0, await root.TerminateAsync());
        }

        string key = Path.Combine(rootData, "node.key");
        await File.WriteAllTextAsync(key, "not a key\n", TestContext.Current.CancellationToken);

        var refused = await CliRunner.RunAsync(["relay", .. args], Data);

        Assert.True(refused.ExitCode == ExitCode.Of(OmniStoreError.Corrupt), refused.ToString());
        string line = Assert.Single(refused.ErrorLines, l => l.StartsWith("omnistore: error: ", StringComparison.Ordinal));
        Assert.Contains($"The node key '{key}' is damaged and was not loaded", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal("not a key\n", await File.ReadAllTextAsync(key, TestContext.Current.CancellationToken));
    }

    private static string NodeIdOf(DaemonProcess daemon)
    {
        string line = Assert.Single(daemon.StandardOutput.Split('\n'), l => l.StartsWith(NodeIdPrefix, StringComparison.Ordinal));
        return line[NodeIdPrefix.Length..].Trim();
    }

    private static async Task<JsonDocument> StatusJsonAsync(DaemonProcess node)
    {
        var status = await CliRunner.RunAsync(["status", "--relay", node.StatusUrl!, "--json"], "unused");
        Assert.True(status.ExitCode == 0, status.ToString());
        return JsonDocument.Parse(status.Output);
    }
}
