using System.Diagnostics;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>Listing names and waiting for them through the tree (docs/watch.md).</summary>
public sealed class ListAndWaitTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task ListAsync_ThroughARelay_ListsEveryNameUnderThePrefix_InOrder_OverSeveralPages(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);

        // Names of 600 bytes: a LISTING of 64 KiB holds about a hundred, so 250 take three pages.
        string padding = new('p', 590);
        var expected = Enumerable.Range(0, 250).Select(i => $"in/{i:D4}/{padding}").ToList();
        await Parallel.ForEachAsync(expected, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (name, token) =>
            await master.PutAsync(name, TestData.Random(10, name.Length), token).AsTask().WaitAsync(Timeout, token));
        await master.PutAsync("in", new byte[3], ct);   // the prefix itself is a name under it
        await master.PutAsync("inx", new byte[4], ct);
        await master.PutAsync("out/0", new byte[5], ct);
        await master.DeleteAsync($"in/0007/{padding}", ct);
        expected.Remove($"in/0007/{padding}");

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        var listed = await ToListAsync(worker.ListAsync("in/", ct));
        Assert.Equal(expected, listed.Select(e => e.Name));
        Assert.All(listed, e => Assert.Equal(10, e.Length));
        Assert.Equal(["in", "in/0000/" + padding], (await ToListAsync(worker.ListAsync("in", ct))).Select(e => e.Name).Take(2));
        Assert.Equal(expected.Count + 3, (await ToListAsync(worker.ListAsync(cancellationToken: ct))).Count);
        Assert.Empty(await ToListAsync(worker.ListAsync("nothing/", ct)));
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task ListCached_AtARelay_ListsOnlyWhatTheRelayHolds(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        await master.PutAsync("a/read-here", TestData.Random(100, 1), ct);
        await master.PutAsync("a/never-read", TestData.Random(100, 2), ct); // another manifest, which the relay never fetches
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        Assert.Equal(100, (await worker.GetAsync("a/read-here", ct)).Length);

        var cached = await ToListAsync(worker.ListAsync("a/", cached: true, ct));
        Assert.Equal(["a/read-here"], cached.Select(e => e.Name));
        Assert.Equal(2, (await ToListAsync(worker.ListAsync("a/", ct))).Count);
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task SixtyFourWorkersWaitingThroughRelays_WakeWhenTheMasterBinds_WithNoRequestSentWhileWaiting(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2, transport: transport);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        const string Name = "round-1/inputs-ready";
        var workers = new List<OmniStoreClient>();
        try
        {
            for (int i = 0; i < 64; i++)
            {
                workers.Add(await TreeCluster.ConnectAsync(cluster.Relays[i % 2]));
            }

            var woken = new long[64];
            var waits = workers.Select(async (worker, i) =>
            {
                var info = await worker.WaitForAsync(Name, ct).AsTask().WaitAsync(Timeout, ct);
                woken[i] = Stopwatch.GetTimestamp();
                return info;
            }).ToList();

            var deadline = DateTime.UtcNow + Timeout;
            while (cluster.Relays.Sum(r => r.Waiting) < 64 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10, ct);
            }

            Assert.Equal(64, cluster.Relays.Sum(r => r.Waiting));

            // While they wait nothing is sent: not by the workers, not by the relays to the root
            // (at most a keep-alive PING, 8 bytes, should its interval end now).
            long[] Sent() => [.. workers.Select(w => ((OmniStore.Node.RemoteObjectService)w.Service).Counters.PayloadOut), .. cluster.Relays.Select(r => r.Parent!.Counters.PayloadOut)];
            var before = Sent();
            await Task.Delay(500, ct);
            var after = Sent();
            Assert.All(before.Zip(after), pair => Assert.True(pair.Second - pair.First is 0 or 8 or 16, $"sent {pair.Second - pair.First} bytes while waiting"));
            Assert.DoesNotContain(waits, w => w.IsCompleted);

            var data = TestData.Random(5000, 64);
            await master.PutAsync(Name, data, ct).AsTask().WaitAsync(Timeout, ct);
            long putReturned = Stopwatch.GetTimestamp();
            var infos = await Task.WhenAll(waits).WaitAsync(Timeout, ct);
            Assert.All(infos, info => Assert.Equal((Name, 5000L, 1L), (info.Name, info.Length, info.Version)));

            // Each relay answered as its UPDATE arrived, before the root answered the Put: every
            // worker has its answer within a round trip of the Put returning (generously bounded
            // for a loaded machine).
            var latest = TimeSpan.FromTicks((woken.Max() - putReturned) * TimeSpan.TicksPerSecond / Stopwatch.Frequency);
            Assert.True(latest < TimeSpan.FromSeconds(2), $"the last worker woke {latest.TotalMilliseconds:F0} ms after the Put returned");
            Assert.Equal(0, cluster.Relays.Sum(r => r.Waiting));
            Assert.Equal(data, await workers[5].GetAsync(Name, ct));
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task WaitForAsync_ReturnsAtOnceForABoundName_KeepsWaitingThroughADeletion_AndCancels(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        await master.PutAsync("here", new byte[7], ct);
        Assert.Equal(7, (await worker.WaitForAsync("here", ct).AsTask().WaitAsync(Timeout, ct)).Length);

        await master.DeleteAsync("here", ct);
        var wait = worker.WaitForAsync("here", ct).AsTask();
        await master.PutAsync("other", new byte[1], ct);
        await Task.Delay(200, ct);
        Assert.False(wait.IsCompleted);
        await master.PutAsync("here", new byte[9], ct);
        var info = await wait.WaitAsync(Timeout, ct);
        Assert.Equal((9L, 3L), (info.Length, info.Version));

        // More waits than a connection serves handlers at once (8) keep no other request waiting.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sleepers = Enumerable.Range(0, 20).Select(i => worker.WaitForAsync($"never/{i}", cancel.Token).AsTask()).ToList();
        Assert.Equal(9, (await worker.GetAsync("here", ct).AsTask().WaitAsync(Timeout, ct)).Length);
        await cancel.CancelAsync();
        foreach (var sleeper in sleepers)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sleeper.WaitAsync(Timeout, ct));
        }

        var deadline = DateTime.UtcNow + Timeout;
        while (cluster.Relays[0].Waiting > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, ct);
        }

        Assert.Equal(0, cluster.Relays[0].Waiting);
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task AWaiterAtARelay_IsWoken_WhenTheNameWasBoundWhileTheRelayWasCutOffFromItsParent(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        string rootDir = cluster.DirectoryOf("root-store");
        var root = await cluster.StartNodeAsync("root", parent: null, directory: rootDir);
        int rootPort = root.Address.Port;
        var relay = await cluster.StartNodeAsync("site", root.Address);
        await using var worker = await TreeCluster.ConnectAsync(relay);
        // A first request through the relay, so that its link to the root is up and warm: the waiter
        // registers (Waiting == 1) before the relay's own lookup of the name at the root is answered,
        // and over a fresh tls+rudp link that first lookup could still be on its way when the root stops.
        Assert.Null(await worker.StatAsync("warm/up", ct));
        var wait = worker.WaitForAsync("bound/while/away", ct).AsTask();
        await WaitUntilAsync(() => relay.Waiting == 1, ct);

        await cluster.StopAsync(root);
        await WaitUntilAsync(() => relay.Parent!.Current is null, ct);
        int connections = relay.Parent!.Connections;
        root = await cluster.StartNodeAsync("root", parent: null, directory: rootDir, port: rootPort);
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            await master.PutAsync("bound/while/away", new byte[11], ct);
        }

        // Usually the relay is still waiting to reconnect here (its backoff), so no UPDATE reached it:
        // it finds the binding when it resolves the names waited for, once connected again.
        bool missedTheUpdate = relay.Parent.Connections == connections;
        var info = await wait.WaitAsync(Timeout, ct);
        Assert.True(info.Length == 11, $"woken with {info.Length} bytes (the relay {(missedTheUpdate ? "missed" : "got")} the UPDATE)");
        Assert.False(worker.Service is OmniStore.Node.RemoteObjectService { Failovers: > 0 });
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, ct);
        }

        Assert.True(condition());
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task DeletePrefixAsync_UnbindsEveryNameUnderThePrefix_AndNothingElse(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        await using var client = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        for (int i = 0; i < 30; i++)
        {
            await client.PutAsync($"tmp/{i}", new byte[1], ct);
        }

        await client.PutAsync("tmpfile", new byte[1], ct);
        Assert.Equal(30, await client.DeletePrefixAsync("tmp/", ct));
        Assert.Equal(["tmpfile"], (await ToListAsync(client.ListAsync("tmp", ct))).Select(e => e.Name));
        var empty = await Assert.ThrowsAsync<OmniStoreException>(() => client.DeletePrefixAsync("", ct).AsTask());
        Assert.Equal(OmniStoreError.InvalidArgument, empty.Error);
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task AVersion6Peer_IsRefusedListAndWait_WithAClearError_AndTheConnectionStaysUp(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var counters = new LinkCounters();
        var (link, identity) = await cluster.DialAsync(cluster.Root, counters, ct);
        await using var connection = await PeerConnection.StartAsync(link, link, true, identity with { MaxVersion = 6 }, null, counters, null, ct);
        Assert.Equal(6, connection.Version);
        var list = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.List, ListMessages.EncodeRequest(new ListRequest("", "", 10, false)), ct));
        Assert.Equal(OmniStoreError.ProtocolError, list.Error);
        Assert.Contains("protocol version 7", list.Message, StringComparison.Ordinal);
        var wait = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Wait, "x"u8.ToArray(), ct));
        Assert.Equal(OmniStoreError.ProtocolError, wait.Error);
        Assert.True(connection.IsOpen);
    }

    [Theory]
    [MemberData(nameof(TreeCluster.PlainTransports), MemberType = typeof(TreeCluster))]
    public async Task MalformedListRequests_GetProtocolError_AndTheConnectionStaysUp(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        var counters = new LinkCounters();
        var (link, identity) = await cluster.DialAsync(cluster.Relays[0], counters, ct);
        await using var connection = await PeerConnection.StartAsync(link, link, true, identity, null, counters, null, ct);
        byte[][] malformed =
        [
            [],                                         // nothing
            [2, 10, 0, 0, 0, 0, 0],                     // an unknown flag
            [0, 0, 0, 0, 0, 0, 0],                      // no entries asked for
            [0, 10, 0, 5, 0, (byte)'a', 0, 0],          // a prefix longer than its bytes
            [0, 10, 0, 0, 4, 0, 0],                     // a prefix of 1024 bytes announced, none there
            [0, 10, 0, 1, 0, 0x0A, 0, 0],               // a control character
            [0, 10, 0, 1, 0, 0xFF, 0, 0],               // not UTF-8
            [0, 10, 0, 0, 0, 0, 0, 9],                  // trailing bytes
        ];
        foreach (var request in malformed)
        {
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.List, request, ct));
            Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        }

        var longPrefix = new byte[7 + 1025];
        longPrefix[1] = 10;
        BitConverter.TryWriteBytes(longPrefix.AsSpan(3), (ushort)1025);
        longPrefix.AsSpan(5, 1025).Fill((byte)'x');
        Assert.Equal(OmniStoreError.ProtocolError, (await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.List, longPrefix, ct))).Error);
        Assert.True(connection.IsOpen);
    }

    internal static async Task<List<ObjectInfo>> ToListAsync(IAsyncEnumerable<ObjectInfo> source)
    {
        var list = new List<ObjectInfo>();
        await foreach (var item in source)
        {
            list.Add(item);
        }

        return list;
    }
}
