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

    /// <summary>At least this many kills; more while the time allows.</summary>
    private const int MinRounds = 20;
    private const int MaxRounds = 40;
    private static readonly TimeSpan MoreRoundsWhileUnder = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task KilledWriter_ReopenedStore_HasEveryAcknowledgedPutAndNoCorruption()
    {
        var ct = TestContext.Current.CancellationToken;
        var random = new Random(2026);
        var state = new Dictionary<string, string?>(); // name -> content hash, or null when unbound
        int acknowledged = 0;
        int insidePut = 0;
        var started = DateTime.UtcNow;
        int round = 0;
        for (; round < MaxRounds && (round < MinRounds || DateTime.UtcNow - started < MoreRoundsWhileUnder); round++)
        {
            // Half the kills land at a random moment of the run, half a few milliseconds into a
            // random Put (its chunk writes, its binding, its commit and fsyncs take about that long).
            var moment = random.Next(2) == 0
                ? KillMoment.After(TimeSpan.FromMilliseconds(random.Next(0, 1500)))
                : KillMoment.IntoPut(random.Next(1, 30), TimeSpan.FromMilliseconds(random.Next(0, 15)));
            var (acked, inFlight, killedInPut) = await RunAndKillAsync(round, moment, ct);
            acknowledged += acked.Count;
            insidePut += killedInPut ? 1 : 0;

            await using var client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path, ChunkSize = ChunkLayout.MinChunkSize });
            foreach (var (name, hash) in acked)
            {
                state[name] = hash;
            }

            foreach (var name in state.Keys.Union(inFlight is { } f ? [f.Name] : []).ToList())
            {
                string? actual = await ReadHashAsync(client, name, round, ct);
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
        Assert.True(acknowledged > round, $"only {acknowledged} operations were acknowledged across {round} rounds: the child barely ran");
        Assert.True(insidePut >= MinRounds / 4, $"only {insidePut} of {round} kills landed inside a Put");
    }

    /// <summary>
    /// What a name holds after a restart: null if it is bound to nothing; else the hash of its
    /// content, which must read back whole: a name bound to a partial object fails the test here.
    /// </summary>
    private async Task<string?> ReadHashAsync(OmniStoreClient client, string name, int round, CancellationToken ct)
    {
        var info = await client.StatAsync(name, ct);
        if (info is null)
        {
            return null;
        }

        byte[] data;
        try
        {
            data = await client.GetAsync(name, ct);
        }
        catch (OmniStoreException ex)
        {
            Assert.Fail($"round {round}: '{name}' is bound (version {info.Version}, {info.Length} bytes) but its object does not read back whole: {ex.Error}: {ex.Message} {TryDescribeMissingChunk(ex.Message)}");
            throw;
        }

        Assert.Equal(info.Length, data.Length);
        return XxHash3.Hash128(data).ToString("x32", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Where the chunk a failure names is in the chunk log's files, byte for byte (its id is the
    /// record's key): present (FASTER's index or recovery lost it) or absent (never written, or
    /// dropped by a reclamation pass); and the store's files, kept for a post-mortem.
    /// </summary>
    private string TryDescribeMissingChunk(string message)
    {
        try
        {
            return DescribeMissingChunk(message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"(could not look for the chunk: {ex.Message})";
        }
    }

    private string DescribeMissingChunk(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, "\\(([0-9a-f]{32})\\)");
        if (!match.Success || !ChunkId.TryParse(match.Groups[1].Value, out var id))
        {
            return "(no chunk id in the message)";
        }

        var key = new byte[16];
        id.Write(key);
        var found = new List<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(_dir.Path, "data"), "log.*"))
        {
            var bytes = File.ReadAllBytes(file);
            for (int at = bytes.AsSpan().IndexOf(key); at >= 0;)
            {
                found.Add($"{Path.GetFileName(file)}+{at}");
                int next = bytes.AsSpan(at + 1).IndexOf(key);
                at = next < 0 ? -1 : at + 1 + next;
            }
        }

        string kept = Path.Combine(Path.GetTempPath(), $"omnistore-crash-failed-{DateTime.UtcNow:yyyyMMddHHmmss}");
        StoreCopy.AsAKillLeavesIt(_dir.Path, kept);
        return $"[chunk {id} in the chunk log's files: {(found.Count == 0 ? "nowhere" : string.Join(", ", found))}; files: {string.Join(", ", Directory.GetFiles(Path.Combine(_dir.Path, "data"), "*", SearchOption.AllDirectories).Select(f => $"{Path.GetRelativePath(_dir.Path, f)} {new FileInfo(f).Length}"))}; the store is kept in {kept}]";
    }

    /// <summary>When to kill the writer: a delay after it is ready, or a delay after it began its Nth Put.</summary>
    private readonly record struct KillMoment(TimeSpan Delay, int PutNumber)
    {
        public static KillMoment After(TimeSpan delay) => new(delay, 0);

        public static KillMoment IntoPut(int putNumber, TimeSpan delay) => new(delay, putNumber);
    }

    private async Task<(List<(string Name, string? Hash)> Acked, (string Name, string? Hash)? InFlight, bool KilledInPut)> RunAndKillAsync(int round, KillMoment moment, CancellationToken ct)
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
        var putBegun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int puts = 0;
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
                    else if (line.StartsWith("BEGIN ", StringComparison.Ordinal) && ++puts == moment.PutNumber)
                    {
                        putBegun.TrySetResult();
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

        if (moment.PutNumber > 0)
        {
            // Bounded: a writer that never gets that far is killed where it is.
            await Task.WhenAny(putBegun.Task, child.WaitForExitAsync(ct), Task.Delay(TimeSpan.FromSeconds(20), ct));
        }

        await Task.Delay(moment.Delay, ct);
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

        return (acked, inFlight, moment.PutNumber > 0 && inFlight is { Item2: not null });
    }
}
