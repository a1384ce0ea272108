using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore verify</c> reads every chunk of a store and names what is damaged; afterwards stat
/// names the damaged chunks and every Get says Corrupt, never NotFound, in later processes too; a
/// Put of the same data repairs the object.
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
    public async Task VerifyOfARemoteNode_IsRefusedInOneLine_NamingWhatToDoInstead()
    {
        var verify = await CliRunner.RunAsync(Store, "verify", "--relay", "tcp://127.0.0.1:1");

        Assert.NotEqual(0, verify.ExitCode);
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
