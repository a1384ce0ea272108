using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore verify</c> reads every chunk of a store and names what is damaged; afterwards stat
/// names the damaged chunks and every Get says Corrupt, never NotFound, in later processes too; a
/// Put of the same data repairs the object. <c>--node</c> asks a running node to verify its own
/// store, and <c>--repair</c> repairs from a verified copy: a root's from its relays, a store
/// directory's from the node <c>--from</c> names.
/// </summary>
public sealed class VerifyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Store => _dir.Sub("store");

    [Fact]
    public async Task AWholeStore_VerifiesClean_WithExitZero()
    {
        var data = Random(256 * 1024, 1);
        Assert.Equal(0, (await CliRunner.RunAsync(["put", "whole", "-", "--chunk-size", "64KiB", "--store", Store], Store, stdin: data)).ExitCode);

        var verify = await CliRunner.RunAsync(Store, "verify", "--store", Store);

        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("verified 4 chunks", verify.Output, StringComparison.Ordinal);
        Assert.Contains("0 damaged", verify.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADamagedChunk_IsNamedByVerify_ThenByStat_AndEveryGetSaysCorrupt_UntilAPutRepairsIt()
    {
        var data = Random(512 * 1024, 2);
        var other = Random(128 * 1024, 3);
        Assert.Equal(0, (await CliRunner.RunAsync(["put", "hurt", "-", "--chunk-size", "64KiB", "--store", Store], Store, stdin: data)).ExitCode);
        Assert.Equal(0, (await CliRunner.RunAsync(["put", "fine", "-", "--chunk-size", "64KiB", "--store", Store], Store, stdin: other)).ExitCode);
        OverwriteInLog(Store, data.AsSpan(3 * 65536, 65536), 32);

        var verify = await CliRunner.RunAsync(Store, "verify", "--store", Store, "--json");
        Assert.True(verify.ExitCode == ExitCode.Of(OmniStoreError.Corrupt), verify.ToString());
        using (var json = JsonDocument.Parse(verify.Output))
        {
            Assert.Equal(9, json.RootElement.GetProperty("verifiedChunks").GetInt64());
            Assert.Single(json.RootElement.GetProperty("damagedChunks").EnumerateArray());
            Assert.Equal(["hurt"], json.RootElement.GetProperty("damagedObjects").EnumerateArray().Select(e => e.GetString()));
        }

        var stat = await CliRunner.RunAsync(Store, "stat", "hurt", "--json", "--store", Store);
        using (var json = JsonDocument.Parse(stat.Output))
        {
            Assert.True(json.RootElement.GetProperty("damaged").GetBoolean());
            Assert.Equal([3], json.RootElement.GetProperty("damagedChunks").EnumerateArray().Select(e => e.GetInt32()));
        }

        for (int i = 0; i < 2; i++)
        {
            var get = await CliRunner.RunAsync(Store, "get", "hurt", "--store", Store);
            Assert.True(get.ExitCode == ExitCode.Of(OmniStoreError.Corrupt), get.ToString());
            Assert.DoesNotContain("   at ", get.StandardError, StringComparison.Ordinal);
        }

        Assert.Equal(other, (await CliRunner.RunAsync(Store, "get", "fine", "--store", Store)).StandardOutput);

        Assert.Equal(0, (await CliRunner.RunAsync(["put", "hurt", "-", "--chunk-size", "64KiB", "--store", Store], Store, stdin: data)).ExitCode);
        Assert.Equal(data, (await CliRunner.RunAsync(Store, "get", "hurt", "--store", Store)).StandardOutput);
        Assert.Equal(0, (await CliRunner.RunAsync(Store, "verify", "--store", Store)).ExitCode);
    }

    [Fact]
    public async Task VerifyOfARunningRoot_ReportsItsDamage_AndWithRepair_RepairsItFromARelaysCopy()
    {
        using var tree = new CrashTree(_dir);
        string rootData = _dir.Sub("root");
        var data = Random(512 * 1024, 4);
        string rootAddress;
        await using (var first = await tree.StartRootAsync(rootData))
        {
            rootAddress = first.Address;
            await using var relay = await tree.StartRelayAsync(first, _dir.Sub("relay"), withStatus: true, "--cache-size", "128M");
            Assert.Equal(0, (await CliRunner.RunAsync(["put", "hurt", "-", "--chunk-size", "64KiB", "--relay", rootAddress, "--quiet"], tree.ClientData, stdin: data)).ExitCode);
            Assert.Equal(data, (await CliRunner.RunAsync(tree.ClientData, "get", "hurt", "--relay", relay.Address)).StandardOutput); // the relay holds every chunk
            Assert.Equal(0, await first.TerminateAsync());
            OverwriteInLog(rootData, data.AsSpan(5 * 65536, 65536), 32);

            // The root again, on its address, with the damaged log; the relay reconnects to it.
            await using var root = await tree.StartRootAsync(rootData, rootAddress);
            await tree.WaitForParentAsync(relay, TimeSpan.FromSeconds(30));

            var report = await CliRunner.RunAsync(tree.ClientData, "verify", "--node", root.Address);
            Assert.True(report.ExitCode == ExitCode.Of(OmniStoreError.Corrupt), report.ToString());
            Assert.Contains("verified 8 chunks", report.Output, StringComparison.Ordinal);
            Assert.Contains("1 damaged, 0 repaired", report.Output, StringComparison.Ordinal);
            Assert.Contains("damaged object: hurt", report.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", report.StandardError, StringComparison.Ordinal);

            var repair = await CliRunner.RunAsync(tree.ClientData, "verify", "--node", root.Address, "--repair", "--json");
            Assert.True(repair.ExitCode == 0, repair.ToString());
            using (var json = JsonDocument.Parse(repair.Output))
            {
                Assert.True(json.RootElement.GetProperty("whole").GetBoolean());
                Assert.Equal(1, json.RootElement.GetProperty("repairedChunkCount").GetInt64());
                Assert.Single(json.RootElement.GetProperty("repairedChunks").EnumerateArray());
                Assert.Empty(json.RootElement.GetProperty("damagedObjects").EnumerateArray());
            }

            Assert.Equal(data, (await CliRunner.RunAsync(tree.ClientData, "get", "hurt", "--relay", root.Address)).StandardOutput);
            Assert.Equal(0, (await CliRunner.RunAsync(tree.ClientData, "verify", "--node", root.Address, "--quiet")).ExitCode);
        }
    }

    [Fact]
    public async Task VerifyOfAStoreDirectory_WithRepairFromANode_FetchesAVerifiedCopy_AndWithoutFromIsAUsageError()
    {
        var data = Random(256 * 1024, 5);
        await using var root = await DaemonProcess.StartAsync(_dir.Sub("client"), "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("root"));
        Assert.Equal(0, (await CliRunner.RunAsync(["put", "copy", "-", "--chunk-size", "64KiB", "--relay", root.Address, "--quiet"], Store, stdin: data)).ExitCode);
        Assert.Equal(0, (await CliRunner.RunAsync(["put", "copy", "-", "--chunk-size", "64KiB", "--store", Store], Store, stdin: data)).ExitCode);
        OverwriteInLog(Store, data.AsSpan(2 * 65536, 65536), 32);

        var refused = await CliRunner.RunAsync(Store, "verify", "--store", Store, "--repair");
        Assert.True(refused.ExitCode == ExitCode.Usage, refused.ToString());
        Assert.Contains("--from", Assert.Single(refused.ErrorLines, l => l.Contains("error", StringComparison.Ordinal)), StringComparison.Ordinal);

        var repaired = await CliRunner.RunAsync(Store, "verify", "--store", Store, "--repair", "--from", root.Address, "--json");
        Assert.True(repaired.ExitCode == 0, repaired.ToString());
        using (var json = JsonDocument.Parse(repaired.Output))
        {
            Assert.Equal(1, json.RootElement.GetProperty("repairedChunkCount").GetInt64());
            Assert.Equal(0, json.RootElement.GetProperty("damagedChunkCount").GetInt64());
        }

        Assert.Equal(data, (await CliRunner.RunAsync(Store, "get", "copy", "--store", Store)).StandardOutput);
        Assert.Equal(0, (await CliRunner.RunAsync(Store, "verify", "--store", Store)).ExitCode);
    }

    [Theory]
    [InlineData("--node", "tcp://127.0.0.1:1", "--store", "x")]
    [InlineData("--node", "tcp://127.0.0.1:1", "--repair", "--from", "tcp://127.0.0.1:1")]
    [InlineData("--from", "tcp://127.0.0.1:1")]
    [InlineData("--node", "not-an-address")]
    public async Task ConflictingOrIncompleteOptions_AreAOneLineUsageError(params string[] args)
    {
        var result = await CliRunner.RunAsync(Store, ["verify", .. args]);

        Assert.True(result.ExitCode == ExitCode.Usage, result.ToString());
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyOfANodeThatIsNotThere_FailsInOneLineWithUnavailable()
    {
        var verify = await CliRunner.RunAsync(Store, "verify", "--node", "tcp://127.0.0.1:1");

        Assert.True(verify.ExitCode == ExitCode.Of(OmniStoreError.Unavailable), verify.ToString());
        Assert.DoesNotContain("   at ", verify.StandardError, StringComparison.Ordinal);
    }

    private static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Overwrites <paramref name="count"/> bytes in the middle of <paramref name="chunk"/> where it sits in the chunk log, as a failing disk would.</summary>
    private static void OverwriteInLog(string store, ReadOnlySpan<byte> chunk, int count)
    {
        var marker = chunk.Slice(chunk.Length / 2, 64).ToArray();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(store, "data"), "log.*"))
        {
            var bytes = File.ReadAllBytes(file);
            int at = bytes.AsSpan().IndexOf(marker);
            if (at >= 0)
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Write);
                stream.Position = at;
                stream.Write(new byte[count]);
                return;
            }
        }

        Assert.Fail("the chunk's bytes were not found in the log files");
    }
}
