using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// A relay killed with SIGKILL at random moments while clients read through it, its cache
/// checkpointed in the background and evicting, restarted each time on its directory: after every
/// restart each object reads back byte for byte as the root holds it now, rebindings made while it
/// was down or just before it died included.
/// </summary>
public sealed class RelayCrashTests : IDisposable
{
    private const int MinRounds = 20;
    private const int MaxRounds = 30;
    private const int ChunkSize = 256 << 10;
    private const int Objects = 8;
    private static readonly (int Min, int Max) ObjectSizes = (3 << 20, 13 << 20);
    private static readonly TimeSpan MoreRoundsWhileUnder = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new();
    private readonly CrashTree _tree;

    public RelayCrashTests() => _tree = new CrashTree(_dir);

    public void Dispose()
    {
        _tree.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task RelayKilledWhileServing_AtRandomMoments_NeverServesAWrongByteAfterARestart()
    {
        var random = new Random(613);
        await using var root = await _tree.StartRootAsync(_dir.Sub("root"));

        // About 64 MiB, and as much again rebound over the rounds, against a 128 MiB cache: later
        // rounds evict, so checkpoints and crashes land between evictions too.
        var current = new Dictionary<string, string>();
        await using (var writer = await _tree.ConnectAsync(root.Address, ChunkSize))
        {
            for (int i = 0; i < Objects; i++)
            {
                current[$"obj-{i}"] = await PutAsync(writer, $"obj-{i}", NewContent(random));
            }
        }

        string directory = _dir.Sub("relay");
        string[] relayArgs = ["--cache-size", "128M", "--checkpoint-interval", "100ms", "--checkpoint-bytes", "4M"];
        long hitsAfterRestarts = 0;
        int rebound = 0;
        var started = DateTime.UtcNow;
        int round = 0;
        for (; round < MaxRounds && (round < MinRounds || DateTime.UtcNow - started < MoreRoundsWhileUnder); round++)
        {
            // Every fifth start serves its status, to see the cache serving after a restart.
            bool withStatus = round % 5 == 4;
            await using var relay = await _tree.StartRelayAsync(root, directory, withStatus, relayArgs);

            // After the restart: two objects read back exactly as the root holds them now.
            await using (var client = await _tree.ConnectAsync(relay.Address, ChunkSize))
            {
                foreach (string name in current.Keys.OrderBy(_ => random.Next()).Take(2))
                {
                    var data = await client.GetAsync(name, TestContext.Current.CancellationToken).AsTask().WaitAsync(CrashTree.OperationTimeout, TestContext.Current.CancellationToken);
                    Assert.True(CrashTree.Hash(data) == current[name], $"round {round}: after the restart the relay served '{name}' with other content than the root's");
                }
            }

            if (withStatus)
            {
                hitsAfterRestarts += (await _tree.StatusAsync(relay)).GetProperty("store").GetProperty("hits").GetInt64();
            }

            // Readers while the relay dies; sometimes the root rebinds a name just before (the
            // relay has applied it, and its cache may or may not have checkpointed it).
            var allowed = current.ToDictionary(p => p.Key, p => new HashSet<string> { p.Value });
            using var stop = new CancellationTokenSource();
            var readers = Enumerable.Range(0, 2).Select(r => ReadUntilStoppedAsync(relay.Address, allowed, new Random(round * 10 + r), round, stop.Token)).ToArray();
            if (random.Next(3) == 0)
            {
                // Allowed before the Put starts: readers may get it as soon as the relay applied the rebinding.
                string name = $"obj-{random.Next(Objects)}";
                var data = NewContent(random);
                lock (allowed)
                {
                    allowed[name].Add(CrashTree.Hash(data));
                }

                await using var writer = await _tree.ConnectAsync(root.Address, ChunkSize);
                current[name] = await PutAsync(writer, name, data);
                rebound++;
            }

            await Task.Delay(random.Next(0, 800), TestContext.Current.CancellationToken);
            await relay.KillAsync();
            await stop.CancelAsync();
            await Task.WhenAll(readers).WaitAsync(CrashTree.OperationTimeout, TestContext.Current.CancellationToken);

            // And sometimes while it is down: it must not serve the old content after the restart.
            if (random.Next(3) == 0)
            {
                string name = $"obj-{random.Next(Objects)}";
                await using var writer = await _tree.ConnectAsync(root.Address, ChunkSize);
                current[name] = await PutAsync(writer, name, NewContent(random));
                rebound++;
            }
        }

        Assert.True(hitsAfterRestarts > 0, "no restarted relay served anything from its cache: the test checked only fetches from the root");
        Assert.True(rebound > 0);
    }

    private static byte[] NewContent(Random random) => CrashTree.RandomBytes(random.Next(ObjectSizes.Min, ObjectSizes.Max), random);

    private static async Task<string> PutAsync(OmniStoreClient writer, string name, byte[] data)
    {
        await writer.PutAsync(name, data, TestContext.Current.CancellationToken).AsTask().WaitAsync(CrashTree.OperationTimeout, TestContext.Current.CancellationToken);
        return CrashTree.Hash(data);
    }

    /// <summary>Gets random objects through the relay until stopped or the relay is gone; every object that arrives must be one the root bound.</summary>
    private async Task ReadUntilStoppedAsync(string address, Dictionary<string, HashSet<string>> allowed, Random random, int round, CancellationToken stop)
    {
        try
        {
            await using var client = await _tree.ConnectAsync(address, ChunkSize);
            for (int i = 0; i < 100 && !stop.IsCancellationRequested; i++)
            {
                string name = $"obj-{random.Next(Objects)}";
                var data = await client.GetAsync(name, stop).AsTask().WaitAsync(CrashTree.OperationTimeout, stop);
                string hash = CrashTree.Hash(data);
                lock (allowed)
                {
                    Assert.True(allowed[name].Contains(hash), $"round {round}: the relay served '{name}' with content the root never bound to it");
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (OmniStoreException ex) when (ex.Error is OmniStoreError.Unavailable or OmniStoreError.ProtocolError)
        {
            // The relay died under the Get: the client says so, and serves nothing.
        }
    }
}
