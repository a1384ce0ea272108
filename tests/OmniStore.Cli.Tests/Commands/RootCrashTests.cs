using System.Diagnostics;
using System.Globalization;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// The root killed with SIGKILL at random moments of a broadcast Put (while the client uploads,
/// while it binds and commits, while it pushes the chunks to its relay), restarted on its directory
/// and port: every name is then bound to a whole object or to nothing, an acknowledged Put is
/// there, and the relay serves what the root holds.
/// </summary>
public sealed class RootCrashTests : IDisposable
{
    private const int MinRounds = 20;
    private const int MaxRounds = 30;
    private const int ChunkSize = 256 << 10;
    private static readonly TimeSpan MoreRoundsWhileUnder = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new();
    private readonly CrashTree _tree;

    public RootCrashTests() => _tree = new CrashTree(_dir);

    public void Dispose()
    {
        _tree.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task RootKilledDuringABroadcastPut_AfterARestart_EachNameIsBoundToAWholeObjectOrToNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var random = new Random(4242);
        string rootDirectory = _dir.Sub("root");
        var root = await _tree.StartRootAsync(rootDirectory);
        try
        {
            // Restarted on the same port, as a supervisor would: the relay reconnects to it.
            string listen = root.Address;
            await using var relay = await _tree.StartRelayAsync(root, _dir.Sub("relay"), withStatus: true, "--cache-size", "256M");

            // One Put that is not interrupted gives the span over which the kills are spread.
            var timer = Stopwatch.StartNew();
            var state = new Dictionary<string, string?>(); // name -> content hash, or null for nothing bound
            await using (var client = await _tree.ConnectAsync(root.Address, ChunkSize))
            {
                var data = CrashTree.RandomBytes(6 << 20, random);
                await client.PutAsync("b-0", data, new PutOptions { Broadcast = true }, ct).AsTask().WaitAsync(CrashTree.OperationTimeout, ct);
                state["b-0"] = CrashTree.Hash(data);
            }

            // The span follows what the kills find: a Put that completed before its kill shrinks it,
            // one the kill interrupted widens it, so the kills keep landing inside Puts however fast
            // or slow this machine is today (the first Put's time includes warm-up).
            double span = Math.Max(50, timer.ElapsedMilliseconds);
            int acknowledged = 0;
            int round = 0;
            var started = DateTime.UtcNow;
            for (; round < MaxRounds && (round < MinRounds || DateTime.UtcNow - started < MoreRoundsWhileUnder); round++)
            {
                await _tree.WaitForParentAsync(relay, TimeSpan.FromSeconds(20));
                string name = $"b-{random.Next(4)}";
                var data = CrashTree.RandomBytes(random.Next(2 << 20, 10 << 20), random);
                string hash = CrashTree.Hash(data);
                bool acked;
                await using (var client = await _tree.ConnectAsync(root.Address, ChunkSize))
                {
                    var put = client.PutAsync(name, data, new PutOptions { Broadcast = true }, ct).AsTask();
                    await Task.WhenAny(put, Task.Delay(random.Next(0, (int)(span * 3 / 2)), ct));
                    await root.KillAsync();
                    try
                    {
                        await put.WaitAsync(CrashTree.OperationTimeout, ct);
                        acked = true;
                    }
                    catch (OmniStoreException ex) when (ex.Error is OmniStoreError.Unavailable or OmniStoreError.ProtocolError)
                    {
                        acked = false;
                    }
                }

                await root.DisposeAsync();
                root = await _tree.StartRootAsync(rootDirectory, listen);
                acknowledged += acked ? 1 : 0;
                span = Math.Clamp(acked ? span * 0.7 : span * 1.2, 20, 60_000);

                // At the root: an acknowledged Put is there; any other name holds what it held, or
                // the interrupted Put's content, whole.
                var allowed = acked ? new HashSet<string?> { hash } : new HashSet<string?> { state.GetValueOrDefault(name), hash };
                await using (var client = await _tree.ConnectAsync(root.Address, ChunkSize))
                {
                    foreach (string each in state.Keys.Append(name).Distinct().ToList())
                    {
                        string? held = await ReadWholeAsync(client, each, round, "the root");
                        var expected = each == name ? allowed : [state[each]];
                        Assert.True(expected.Contains(held), $"round {round} ({(acked ? "acknowledged" : "interrupted")}): '{each}' holds {held ?? "nothing"} at the root, expected one of [{string.Join(", ", expected.Select(e => e ?? "nothing"))}]");
                        state[each] = held;
                    }
                }

                // Through the relay, once it is back: the same, never a chunk of a Put the root lost.
                await _tree.WaitForParentAsync(relay, TimeSpan.FromSeconds(20));
                await using (var client = await _tree.ConnectAsync(relay.Address, ChunkSize))
                {
                    string? served = await ReadWholeAsync(client, name, round, "the relay");
                    Assert.True(served == state[name], $"round {round}: the relay serves '{name}' as {served ?? "nothing"}, the root holds {state[name] ?? "nothing"}");
                }
            }

            Assert.True(acknowledged > 0 && acknowledged < round, string.Create(CultureInfo.InvariantCulture, $"{acknowledged} of {round} Puts were acknowledged: the kills did not spread over the Put"));
        }
        finally
        {
            await root.DisposeAsync();
        }
    }

    /// <summary>The hash of what <paramref name="name"/> is bound to, read whole; null if it is bound to nothing. A bound name whose object does not read back fails the test.</summary>
    private static async Task<string?> ReadWholeAsync(OmniStoreClient client, string name, int round, string where)
    {
        var ct = TestContext.Current.CancellationToken;
        var info = await client.StatAsync(name, ct).AsTask().WaitAsync(CrashTree.OperationTimeout, ct);
        if (info is null)
        {
            return null;
        }

        try
        {
            var data = await client.GetAsync(name, ct).AsTask().WaitAsync(CrashTree.OperationTimeout, ct);
            Assert.Equal(info.Length, data.Length);
            return CrashTree.Hash(data);
        }
        catch (OmniStoreException ex)
        {
            Assert.Fail($"round {round}: '{name}' is bound at {where} (version {info.Version}, {info.Length} bytes) but does not read back whole: {ex.Error}: {ex.Message}");
            throw;
        }
    }
}
