using System.Text;
using System.Text.Json.Nodes;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// A damaged store directory under the CLI: every command that opens it, and <c>omnistore relay</c>
/// (root and relay), print one <c>omnistore: error:</c> line that names the damage and what can be
/// done, and exit with the Corrupt code; never a crash (exit 134 from an access violation inside
/// FASTER's recovery), never a start with less data.
/// </summary>
public sealed class DamagedStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    /// <summary>A page size in store.json other than the one the log was written with: FASTER's recovery read past its buffers.</summary>
    private static void ChangePageSize(string store)
    {
        string path = Path.Combine(store, "store.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["dataPageSizeBits"] = json["dataPageSizeBits"]!.GetValue<int>() - 1;
        File.WriteAllText(path, json.ToJsonString());
    }

    /// <summary>0xFF over the header of the record that binds <paramref name="name"/> in the catalog log.</summary>
    private static void CorruptBindingHeader(string store, string name)
    {
        string log = Path.Combine(store, "catalog", "log.0");
        long at = File.ReadAllBytes(log).AsSpan().IndexOf(Encoding.UTF8.GetBytes(name));
        Assert.True(at > 13, $"'{name}' is not in {log}");
        using var file = new FileStream(log, FileMode.Open, FileAccess.ReadWrite);
        file.Position = at - 13; // record header 8, key length 4, tag 1
        file.Write(Enumerable.Repeat((byte)0xFF, 16).ToArray());
    }

    /// <summary>Exactly one error line, the Corrupt exit code, and the line names <paramref name="mentions"/>.</summary>
    private static void AssertRefused(CliResult result, params string[] mentions)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(result.StandardError);
        Assert.True(result.ExitCode == ExitCode.Of(OmniStoreError.Corrupt), result.ToString());
        string line = Assert.Single(result.ErrorLines, l => l.StartsWith("omnistore: error: ", StringComparison.Ordinal));
        Assert.Contains("is damaged and was not opened", line, StringComparison.Ordinal);
        foreach (string mention in mentions)
        {
            Assert.Contains(mention, line, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal); // no stack trace
    }

    [Theory]
    [InlineData("page size")]
    [InlineData("record header")]
    public async Task ClientCommands_OnADamagedEmbeddedStore_PrintOneLineAndExitCorrupt(string damage)
    {
        string store = _dir.Sub("store");
        var put = await CliRunner.RunAsync(["put", "kept/name", "-", "--store", store], Data, stdin: Enumerable.Range(0, 300_000).Select(i => (byte)i).ToArray());
        Assert.True(put.ExitCode == 0, put.ToString());
        if (damage == "page size")
        {
            ChangePageSize(store);
        }
        else
        {
            CorruptBindingHeader(store, "kept/name");
        }

        foreach (var args in new[] { new[] { "get", "kept/name" }, ["stat", "kept/name"], ["rm", "kept/name"], ["put", "other", "-"] })
        {
            var result = await CliRunner.RunAsync([.. args, "--store", store], Data, stdin: [1, 2, 3]);
            AssertRefused(result, store, damage == "page size" ? "store.json" : "catalog/log.0", $"restore '{store}' from a copy");
            Assert.Empty(result.StandardOutput);
        }
    }

    [Fact]
    public async Task Relay_WithADamagedCache_ExitsWithOneLineSayingTheCacheCanBeRemoved_AndStartsOnceItIs()
    {
        string rootData = _dir.Sub("root");
        string relayData = _dir.Sub("relay");
        string relaySecret = _dir.Sub("relay.secret");
        File.WriteAllText(relaySecret, "the tree's relay secret, not a client's");
        await using var root = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", rootData, "--relay-secret-file", relaySecret);
        string[] relayArgs = ["--listen", "tcp://127.0.0.1:0", "--parent", root.Address, "--site", "site-a", "--cache-size", "128M", "--data-dir", relayData, "--relay-secret-file", relaySecret];
        await using (var relay = await DaemonProcess.StartAsync(Data, relayArgs))
        {
            var put = await CliRunner.RunAsync(["put", "through/relay", "-", "--relay", relay.Address], Data, stdin: new byte[100_000]);
            Assert.True(put.ExitCode == 0, put.ToString());
            Assert.Equal(0, await relay.TerminateAsync());
        }

        CorruptBindingHeader(relayData, "through/relay");
        var refused = await CliRunner.RunAsync(["relay", .. relayArgs], Data);
        AssertRefused(refused, relayData, "catalog/log.0", $"remove '{relayData}'", "refills from its parent");

        // What the line says works: without the directory, the relay starts and serves from its parent.
        Directory.Delete(relayData, recursive: true);
        await using var restarted = await DaemonProcess.StartAsync(Data, relayArgs);
        var get = await CliRunner.RunAsync(Data, "get", "through/relay", "--relay", restarted.Address);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal(new byte[100_000], get.StandardOutput);
    }

    [Fact]
    public async Task Root_WithADamagedStore_ExitsWithOneLineSayingToRestoreIt()
    {
        string rootData = _dir.Sub("root");
        string[] rootArgs = ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", rootData];
        await using (var root = await DaemonProcess.StartAsync(Data, rootArgs))
        {
            var put = await CliRunner.RunAsync(["put", "at/root", "-", "--relay", root.Address], Data, stdin: [1, 2, 3]);
            Assert.True(put.ExitCode == 0, put.ToString());
            Assert.Equal(0, await root.TerminateAsync());
        }

        ChangePageSize(rootData);
        var refused = await CliRunner.RunAsync(["relay", .. rootArgs], Data);
        AssertRefused(refused, rootData, "store.json", $"restore '{rootData}' from a copy");
    }
}
