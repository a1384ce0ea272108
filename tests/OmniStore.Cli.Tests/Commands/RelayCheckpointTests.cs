using System.Security.Cryptography;
using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// A relay's cache survives a SIGKILL: it checkpoints in the background (<c>--checkpoint-interval</c>,
/// <c>--checkpoint-bytes</c>), and a relay restarted on the same directory serves what it had
/// cached until its last checkpoint without fetching it across the WAN again.
/// </summary>
public sealed class RelayCheckpointTests : IDisposable
{
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    private string RelaySecret
    {
        get
        {
            string path = _dir.Sub("relay.secret");
            if (!File.Exists(path))
            {
                File.WriteAllText(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }
            }

            return path;
        }
    }

    private Task<DaemonProcess> StartRootAsync() =>
        DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--relay-secret-file", RelaySecret);

    private Task<DaemonProcess> StartRelayAsync(DaemonProcess root, string directory, params string[] args) =>
        DaemonProcess.StartAsync(Data, ["--listen", "tcp://127.0.0.1:0", "--parent", root.Address, "--site", "site-a", "--data-dir", directory, "--relay-secret-file", RelaySecret, "--status-listen", "http://127.0.0.1:0", .. args]);

    private static async Task<JsonElement> StatusAsync(DaemonProcess node)
    {
        var status = await CliRunner.RunAsync(["status", "--relay", node.StatusUrl!, "--json"], "unused");
        Assert.True(status.ExitCode == 0, status.ToString());
        using var json = JsonDocument.Parse(status.Output);
        return json.RootElement.Clone();
    }

    /// <summary>Writes <paramref name="megabytes"/> MiB of seeded random bytes to <paramref name="path"/>; returns their SHA-256.</summary>
    private static byte[] WriteRandomFile(string path, int megabytes, int seed)
    {
        var random = new Random(seed);
        var block = new byte[1 << 20];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var file = File.Create(path);
        for (int i = 0; i < megabytes; i++)
        {
            random.NextBytes(block);
            hash.AppendData(block);
            file.Write(block);
        }

        return hash.GetHashAndReset();
    }

    private static byte[] HashFile(string path)
    {
        using var file = File.OpenRead(path);
        return SHA256.HashData(file);
    }

    private async Task GetAndCheckAsync(DaemonProcess relay, string name, byte[] expected)
    {
        string output = _dir.Sub("output.bin");
        var get = await CliRunner.RunAsync(["get", name, "--relay", relay.Address, "-o", output, "--quiet"], Data, timeout: TransferTimeout);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal(expected, HashFile(output));
        File.Delete(output);
    }

    [Theory]
    [InlineData("--checkpoint-interval", "-1s")]
    [InlineData("--checkpoint-interval", "8d")]
    [InlineData("--checkpoint-interval", "often")]
    [InlineData("--checkpoint-bytes", "-1")]
    [InlineData("--checkpoint-bytes", "lots")]
    public async Task ABadCheckpointSetting_IsAUsageErrorNamingTheOption(string option, string value)
    {
        var result = await CliRunner.RunAsync(["relay", "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("x"), option, value], Data);
        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains(option, result.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Sub("x")), "the daemon started despite the bad option");
    }

    [Fact]
    public async Task RelayKilledWithSigkill_RestartsWithItsCache_AndServesAGibibyteWithoutFetchingItAgain()
    {
        const int Chunks = 1024; // 1 GiB in the default 1 MiB chunks
        string input = _dir.Sub("input.bin");
        byte[] expected = WriteRandomFile(input, Chunks, 13);

        await using var root = await StartRootAsync();
        var put = await CliRunner.RunAsync(["put", "big", input, "--relay", root.Address, "--quiet"], Data, timeout: TransferTimeout);
        Assert.True(put.ExitCode == 0, put.ToString());
        File.Delete(input);

        // A short interval, so the test waits for a checkpoint in seconds rather than the default 30 s.
        string directory = _dir.Sub("relay");
        string[] relayArgs = ["--cache-size", "2G", "--checkpoint-interval", "1s"];
        await using (var relay = await StartRelayAsync(root, directory, relayArgs))
        {
            await GetAndCheckAsync(relay, "big", expected);
            var filled = await StatusAsync(relay);
            Assert.Equal(Chunks, filled.GetProperty("upstreamChunkFetches").GetInt64());

            // Until a checkpoint has covered everything the get wrote (bounded: 60 s, then fail).
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            JsonElement store;
            while (true)
            {
                store = (await StatusAsync(relay)).GetProperty("store");
                if (store.GetProperty("uncommittedBytes").GetInt64() == 0 && store.GetProperty("lastCommit").ValueKind == JsonValueKind.String)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, $"the relay took no checkpoint of what it cached within 60 s: {store}");
                await Task.Delay(250, TestContext.Current.CancellationToken);
            }

            await relay.KillAsync();
        }

        await using var restarted = await StartRelayAsync(root, directory, relayArgs);
        await GetAndCheckAsync(restarted, "big", expected);
        var status = await StatusAsync(restarted);
        long fetches = status.GetProperty("upstreamChunkFetches").GetInt64();
        long hits = status.GetProperty("store").GetProperty("hits").GetInt64();
        Assert.True(fetches <= Chunks / 10, $"after the SIGKILL the relay fetched {fetches} of {Chunks} chunks from its parent again; status: {status}");
        Assert.True(hits >= Chunks * 9 / 10, $"after the SIGKILL only {hits} of {Chunks} chunk reads were hits; status: {status}");
    }
}
