using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>Watching the changes under a prefix through the tree (docs/watch.md, "Watch").</summary>
public sealed class WatchTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task WatchAsync_ThroughARelay_YieldsBoundReboundDeleted_InTheOrderTheyHappened_OnlyUnderThePrefix(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        await master.PutAsync("job/before", new byte[1], ct); // before the watch: not reported
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        await using var changes = new ChangeCollector(worker.WatchAsync("job/", ct));
        await WaitForWatchersAsync(cluster.Root, 1, cluster.Relays[0], 1);

        await master.PutAsync("job/a", new byte[10], ct);
        await master.PutAsync("other/x", new byte[1], ct);
        await master.PutAsync("job/b", new byte[20], ct);
        await master.PutAsync("job/a", new byte[30], ct);
        await master.DeleteAsync("job/b", ct);
        var seen = await changes.TakeAsync(4);

        Assert.Equal(
            [("job/a", ObjectChangeKind.Bound, 1L), ("job/b", ObjectChangeKind.Bound, 1L), ("job/a", ObjectChangeKind.Rebound, 2L), ("job/b", ObjectChangeKind.Deleted, 2L)],
            seen.Select(c => (c.Name, c.Kind, c.Version)));
        Assert.Equal([10L, 20L, 30L], seen.Where(c => c.Info is not null).Select(c => c.Info!.Length));
        Assert.Null(seen[3].Info);
        AssertGrowing(seen);
    }

    [Fact]
    public async Task WatchAsync_ResumesOnTheNextAddress_WhenItsConnectionIsCut_WithNoChangeLostOrRepeated()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        await using var worker = await OmniStoreClient.ConnectAsync($"{cluster.Relays[0].Address},{cluster.Relays[1].Address}", cancellationToken: ct);
        await using var changes = new ChangeCollector(worker.WatchAsync("w/", ct));
        await WaitForWatchersAsync(cluster.Root, 1, cluster.Relays[0], 1);

        // Puts go on while the worker's relay stops: the watch moves to the other relay and resumes
        // after the last change it yielded.
        var puts = Task.Run(
            async () =>
            {
                for (int i = 0; i < 120; i++)
                {
                    await master.PutAsync($"w/{i:D3}", new byte[1], ct);
                }
            },
            ct);
        var seen = await changes.TakeAsync(30);
        await cluster.StopAsync(cluster.Relays[0]);
        await puts.WaitAsync(Timeout, ct);
        seen.AddRange(await changes.TakeAsync(90));

        Assert.Equal(Enumerable.Range(0, 120).Select(i => $"w/{i:D3}"), seen.Select(c => c.Name));
        AssertGrowing(seen);
        Assert.True(worker.Service is OmniStore.Node.RemoteObjectService { Failovers: > 0 });
    }

    [Fact]
    public async Task ARelay_HoldsOneWatchToItsParentPerPrefix_AndFansEveryChangeOut()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var relay = cluster.Relays[0];
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        var workers = new List<OmniStoreClient>();
        var collectors = new List<ChangeCollector>();
        try
        {
            for (int i = 0; i < 6; i++)
            {
                var worker = await TreeCluster.ConnectAsync(relay);
                workers.Add(worker);
                var collector = new ChangeCollector(worker.WatchAsync(i < 4 ? "p/" : "q/", ct));
                collectors.Add(collector);
                await WaitForWatchersAsync(cluster.Root, i < 4 ? 1 : 2, relay, i + 1);
            }

            Assert.Equal(2, relay.UpstreamWatches);
            Assert.Equal(2, cluster.Root.Watchers);
            await master.PutAsync("p/1", new byte[1], ct);
            await master.PutAsync("q/1", new byte[1], ct);
            foreach (var (collector, i) in collectors.Select((c, i) => (c, i)))
            {
                Assert.Equal(i < 4 ? "p/1" : "q/1", (await collector.TakeAsync(1))[0].Name);
            }
        }
        finally
        {
            foreach (var collector in collectors)
            {
                await collector.DisposeAsync();
            }

            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }

        // The last watcher of a prefix gone, the relay's WATCH to its parent is cancelled.
        await ListAndWaitTests.WaitUntilAsync(() => relay.UpstreamWatches == 0 && cluster.Root.Watchers == 0, ct);
    }

    [Fact]
    public async Task ARootRestart_KeepsTheHistory_AndARelayResumesItsWatch_SoItsWatchersMissNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        string rootDir = cluster.DirectoryOf("root-store");
        var root = await cluster.StartNodeAsync("root", parent: null, directory: rootDir);
        int rootPort = root.Address.Port;
        var relay = await cluster.StartNodeAsync("site", root.Address);
        await using var worker = await TreeCluster.ConnectAsync(relay);
        await using var changes = new ChangeCollector(worker.WatchAsync("r/", ct));
        await WaitForWatchersAsync(root, 1, relay, 1);
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            await master.PutAsync("r/1", new byte[1], ct);
            await master.PutAsync("r/2", new byte[1], ct);
        }

        Assert.Equal(["r/1", "r/2"], (await changes.TakeAsync(2)).Select(c => c.Name));

        // The relay's link to its parent drops with the root; changes made before it is back
        // reach its watcher all the same, from the root's history.
        await cluster.StopAsync(root);
        await ListAndWaitTests.WaitUntilAsync(() => relay.Parent!.Current is null, ct);
        root = await cluster.StartNodeAsync("root", parent: null, directory: rootDir, port: rootPort);
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            await master.PutAsync("r/3", new byte[1], ct);
            await master.DeleteAsync("r/1", ct);
        }

        var after = await changes.TakeAsync(2);
        Assert.Equal([("r/3", ObjectChangeKind.Bound), ("r/1", ObjectChangeKind.Deleted)], after.Select(c => (c.Name, c.Kind)));
        Assert.False(worker.Service is OmniStore.Node.RemoteObjectService { Failovers: > 0 });

        // The history outlived the restart: a watch from 0 replays every change, numbered as before.
        await using var late = await TreeCluster.ConnectAsync(root);
        await using var replay = new ChangeCollector(late.WatchAsync("r/", 0, ct));
        var all = await replay.TakeAsync(4);
        Assert.Equal(["r/1", "r/2", "r/3", "r/1"], all.Select(c => c.Name));
        Assert.Equal(after.Select(c => c.Sequence), all.Skip(2).Select(c => c.Sequence));
        AssertGrowing(all);
    }

    [Fact]
    public async Task AWatchFromASequenceTheHistoryNoLongerHolds_IsReset_ThenGetsEveryNameBound_ThenWhatFollows()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartWithAsync(relays: 1, options => options with { ChangeHistory = 8 });
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        for (int i = 0; i < 20; i++)
        {
            await master.PutAsync($"h/{i:D2}", new byte[1], ct);
        }

        await master.DeleteAsync("h/05", ct);
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        await using var changes = new ChangeCollector(worker.WatchAsync("h/", 3, ct));
        var reset = await changes.TakeAsync(20);
        Assert.Equal(ObjectChangeKind.Reset, reset[0].Kind);
        Assert.Equal(21, reset[0].Sequence);
        Assert.Equal(Enumerable.Range(0, 20).Where(i => i != 5).Select(i => $"h/{i:D2}"), reset.Skip(1).Select(c => c.Name));
        Assert.All(reset.Skip(1), c => Assert.Equal((ObjectChangeKind.Bound, 21L), (c.Kind, c.Sequence)));

        await master.PutAsync("h/new", new byte[1], ct);
        Assert.Equal((22L, "h/new"), (await changes.TakeAsync(1)) is [var next] ? (next.Sequence, next.Name) : default);

        // Within the history, the same watch replays instead.
        await using var recent = new ChangeCollector(worker.WatchAsync("h/", 19, ct));
        Assert.Equal(["h/19", "h/05", "h/new"], (await recent.TakeAsync(3)).Select(c => c.Name));
    }

    [Theory]
    [MemberData(nameof(TreeCluster.PlainTransports), MemberType = typeof(TreeCluster))]
    public async Task HostileWatches_GetAClearError_AndTheConnectionStaysUp(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        foreach (var node in new[] { cluster.Root, cluster.Relays[0] })
        {
            var counters = new LinkCounters();
            var (link, identity) = await cluster.DialAsync(node, counters, ct);
            await using var connection = await PeerConnection.StartAsync(link, link, true, identity, null, counters, null, ct);
            var longPrefix = new byte[8 + 2 + 1025];
            BitConverter.TryWriteBytes(longPrefix.AsSpan(8), (ushort)1025);
            longPrefix.AsSpan(10).Fill((byte)'x');
            byte[][] malformed =
            [
                [],                                               // nothing
                [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0], // from -2
                [0, 0, 0, 0, 0, 0, 0, 0, 3, 0, (byte)'a'],        // a prefix longer than its bytes
                [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xFF],             // not UTF-8
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],                // trailing bytes
                longPrefix,                                       // a prefix of 1025 bytes
            ];
            foreach (var request in malformed)
            {
                var error = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Watch, request, ct));
                Assert.Equal(OmniStoreError.ProtocolError, error.Error);
            }

            // A sequence the root has not reached.
            var future = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Watch, ListMessages.EncodeWatch(new WatchRequest(1000, "")), ct).WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.InvalidArgument, future.Error);

            // Sixteen watches are served; the seventeenth is refused, and the others go on.
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var positions = 0;
            var watches = Enumerable.Range(0, 16).Select(i => connection.RequestAsync(
                FrameType.Watch,
                ListMessages.EncodeWatch(new WatchRequest(ListMessages.FromNow, $"w{i}/")),
                new InterimAnswers(FrameType.Change, _ => Interlocked.Increment(ref positions)),
                cancel.Token)).ToList();
            await ListAndWaitTests.WaitUntilAsync(() => Volatile.Read(ref positions) == 16, ct);
            var seventeenth = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Watch, ListMessages.EncodeWatch(new WatchRequest(ListMessages.FromNow, "x/")), ct).WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.InvalidArgument, seventeenth.Error);
            Assert.Contains("16", seventeenth.Message, StringComparison.Ordinal);
            Assert.True(connection.IsOpen);
            await cancel.CancelAsync();
            foreach (var watch in watches)
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watch.WaitAsync(Timeout, ct));
            }
        }
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task AVersion7Peer_IsRefusedWatch_WithAClearError_AndTheConnectionStaysUp(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var counters = new LinkCounters();
        var (link, identity) = await cluster.DialAsync(cluster.Root, counters, ct);
        await using var connection = await PeerConnection.StartAsync(link, link, true, identity with { MaxVersion = 7 }, null, counters, null, ct);
        Assert.Equal(7, connection.Version);
        var watch = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Watch, ListMessages.EncodeWatch(new WatchRequest(ListMessages.FromNow, "")), ct));
        Assert.Equal(OmniStoreError.ProtocolError, watch.Error);
        Assert.Contains("protocol version 8", watch.Message, StringComparison.Ordinal);
        Assert.True(connection.IsOpen);
    }

    internal static void AssertGrowing(IReadOnlyList<ObjectChange> changes)
    {
        for (int i = 1; i < changes.Count; i++)
        {
            Assert.True(changes[i].Sequence > changes[i - 1].Sequence, $"change {i} at {changes[i].Sequence} after {changes[i - 1].Sequence}");
        }
    }

    /// <summary>Waits until the watches are attached where they are served: a change made after this is reported.</summary>
    internal static Task WaitForWatchersAsync(OmniStore.Node.TreeNode root, int atRoot, OmniStore.Node.TreeNode relay, int atRelay) =>
        ListAndWaitTests.WaitUntilAsync(() => root.Watchers == atRoot && relay.Watchers == atRelay, TestContext.Current.CancellationToken);
}
