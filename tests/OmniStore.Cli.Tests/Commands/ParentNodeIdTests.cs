using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore relay --parent tcp://HOST:PORT#NODEID</c>: the relay takes only that node as its
/// parent. The right one connects; another is refused, logged with both ids and shown in the
/// relay's status while it keeps trying.
/// </summary>
public sealed class ParentNodeIdTests : IAsyncLifetime
{
    private const string NodeIdPrefix = "node id ";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly TempDirectory _dir = new();
    private DaemonProcess _root = null!;
    private string _rootId = "";
    private string _relaySecret = "";

    private string Data => _dir.Sub("client-data");

    public async ValueTask InitializeAsync()
    {
        _relaySecret = _dir.Sub("relay.secret");
        await File.WriteAllTextAsync(_relaySecret, "the tree's relay secret", TestContext.Current.CancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_relaySecret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        _root = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--relay-secret-file", _relaySecret, "--status-listen", "http://127.0.0.1:0");
        _rootId = NodeIdOf(_root);
    }

    public async ValueTask DisposeAsync()
    {
        await _root.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task TheParentsRightId_Connects_AndTheRelayShowsTheIdItExpects()
    {
        await using var relay = await StartRelayAsync($"{_root.Address}#{_rootId.ToUpperInvariant()}");

        using var status = await ParentStatusWhenAsync(relay, parent => parent.GetProperty("connected").GetBoolean());
        var parent = status.RootElement.GetProperty("parent");
        Assert.Equal(_root.Address, parent.GetProperty("address").GetString());
        Assert.Equal(_rootId, parent.GetProperty("nodeId").GetString());
        Assert.Equal(_rootId, parent.GetProperty("expectedNodeId").GetString());
        Assert.Equal(JsonValueKind.Null, parent.GetProperty("problem").ValueKind);
        Assert.Contains($"Starting a relay: parent {_root.Address} (must be node {_rootId})", relay.StandardError, StringComparison.Ordinal);

        var text = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!], "unused");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains($"parent:   {_root.Address}, must be node {_rootId}, connected to node {_rootId}", text.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnotherNodeAtTheParentsAddress_IsRefused_LoggedWithBothIds_AndShownInStatus()
    {
        string expected = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        await using var relay = await StartRelayAsync($"{_root.Address}#{expected}");

        string refusal = $"expected node {expected}, reached node {_rootId}";
        using var status = await ParentStatusWhenAsync(relay, parent => parent.GetProperty("problem").GetString() is not null);
        var parent = status.RootElement.GetProperty("parent");
        Assert.False(parent.GetProperty("connected").GetBoolean());
        Assert.Equal(0, parent.GetProperty("connections").GetInt32());
        Assert.Equal(expected, parent.GetProperty("expectedNodeId").GetString());
        Assert.Contains(refusal, parent.GetProperty("problem").GetString(), StringComparison.Ordinal);
        Assert.True(
            await LoggedAsync(relay, l => l.Contains($"Parent {_root.Address} unreachable (", StringComparison.Ordinal) && l.Contains(refusal, StringComparison.Ordinal)),
            $"the relay did not log the refusal; stderr: {relay.StandardError}");

        var text = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!], "unused");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains($"parent:   {_root.Address}, must be node {expected}, DISCONNECTED", text.Output, StringComparison.Ordinal);
        Assert.Contains($"last attempt: Refused the connection: {refusal}.", text.Output, StringComparison.Ordinal);

        // The root never took it as a child.
        using var rootStatus = await StatusJsonAsync(_root);
        Assert.Empty(rootStatus.RootElement.GetProperty("children").EnumerateArray());
    }

    private Task<DaemonProcess> StartRelayAsync(string parent) =>
        DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--parent", parent, "--site", "site-a", "--cache-size", "128M", "--data-dir", _dir.Sub($"relay-{Guid.NewGuid():N}"), "--relay-secret-file", _relaySecret, "--status-listen", "http://127.0.0.1:0");

    /// <summary>The relay's status once its parent link satisfies <paramref name="done"/> (the link runs in the background).</summary>
    private static async Task<JsonDocument> ParentStatusWhenAsync(DaemonProcess relay, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var status = await StatusJsonAsync(relay);
            if (done(status.RootElement.GetProperty("parent")) || DateTime.UtcNow > deadline)
            {
                return status;
            }

            status.Dispose();
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Whether the daemon writes a log line that matches within the timeout (the console logger writes from its own thread).</summary>
    private static async Task<bool> LoggedAsync(DaemonProcess daemon, Func<string, bool> match)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!daemon.StandardError.Split('\n').Any(match))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        return true;
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
