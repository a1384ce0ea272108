using System.Diagnostics;
using System.Globalization;
using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// Kills a child process that writes to a store at random moments (SIGKILL), reopens the store
/// and checks that nothing acknowledged was lost and nothing corrupt is visible.
/// </summary>
public sealed class CrashRecoveryTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-crash");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task KilledWriter_ReopenedStore_HasEveryAcknowledgedPutAndNoCorruption()
    {
        var ct = TestContext.Current.CancellationToken;
        var random = new Random(2026);
        var state = new Dictionary<string, string?>(); // name -> content hash, or null when unbound
        int acknowledged = 0;
        for (int round = 0; round < 20; round++)
        {
            var (acked, inFlight) = await RunAndKillAsync(round, TimeSpan.FromMilliseconds(random.Next(150, 1500)), ct);
            acknowledged += acked.Count;

            await using var client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path, ChunkSize = ChunkLayout.MinChunkSize });
            foreach (var (name, hash) in acked)
            {
                state[name] = hash;
            }

            foreach (var name in state.Keys.Union(inFlight is { } f ? [f.Name] : []).ToList())
            {
                string? actual = await ReadHashAsync(client, name, ct);
                var allowed = new HashSet<string?> { state.GetValueOrDefault(name) };
                if (inFlight is { } op && op.Name == name)
                {
                    allowed.Add(op.Hash);
                }

                Assert.True(allowed.Contains(actual), $"round {round}: '{name}' holds {actual ?? "nothing"}, expected one of [{string.Join(", ", allowed.Select(a => a ?? "nothing"))}]");
                state[name] = actual;
            }
        }

        using var store = ContentStore.Open(new ContentStoreOptions { Directory = _dir.Path });
        var (verified, dropped) = store.VerifyAllChunks();
        Assert.Equal(0, dropped);
        Assert.True(verified > 0);
        Assert.True(acknowledged > 20, $"only {acknowledged} operations were acknowledged across 20 rounds: the child barely ran");
    }

    private static async Task<string?> ReadHashAsync(OmniStoreClient client, string name, CancellationToken ct)
    {
        try
        {
            var data = await client.GetAsync(name, ct);
            return XxHash3.Hash128(data).ToString("x32", CultureInfo.InvariantCulture);
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.NotFound)
        {
            return null;
        }
    }

    private async Task<(List<(string Name, string? Hash)> Acked, (string Name, string? Hash)? InFlight)> RunAndKillAsync(int round, TimeSpan delay, CancellationToken ct)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "OmniStore.TestHost.dll"));
        start.ArgumentList.Add("crash-writer");
        start.ArgumentList.Add(_dir.Path);
        start.ArgumentList.Add(round.ToString(CultureInfo.InvariantCulture));
        using var child = Process.Start(start)!;
        var stderr = child.StandardError.ReadToEndAsync(ct);
        var lines = new List<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = Task.Run(
            async () =>
            {
                while (await child.StandardOutput.ReadLineAsync(ct) is { } line)
                {
                    lock (lines)
                    {
                        lines.Add(line);
                    }

                    if (line == "READY")
                    {
                        ready.TrySetResult();
                    }
                }
            },
            ct);
        await Task.WhenAny(ready.Task, child.WaitForExitAsync(ct), Task.Delay(TimeSpan.FromSeconds(60), ct));
        if (!ready.Task.IsCompleted)
        {
            child.Kill();
            Assert.Fail($"round {round}: the writer did not start: {await stderr}");
        }

        await Task.Delay(delay, ct);
        child.Kill();
        await child.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        await reader.WaitAsync(TimeSpan.FromSeconds(30), ct);

        var acked = new List<(string, string?)>();
        (string, string?)? inFlight = null;
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            switch (parts[0])
            {
                case "BEGIN":
                    inFlight = (parts[1], parts[2]);
                    break;
                case "BEGINDEL":
                    inFlight = (parts[1], null);
                    break;
                case "PUT":
                    acked.Add((parts[1], parts[2]));
                    inFlight = null;
                    break;
                case "DEL":
                    acked.Add((parts[1], null));
                    inFlight = null;
                    break;
            }
        }

        return (acked, inFlight);
    }
}
