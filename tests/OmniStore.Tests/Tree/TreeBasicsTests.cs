using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

public sealed class TreeBasicsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task PutThroughOneRelay_GetThroughAnother_ReturnsTheSameBytes(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2, transport: transport);
        var data = TestData.Random((5L << 20) + 123, 1);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Relays[0]))
        {
            await master.PutAsync("dataset", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[1]);
        Assert.Equal(data, await worker.GetAsync("dataset", ct).AsTask().WaitAsync(Timeout, ct));
        var info = await worker.StatAsync("dataset", ct);
        Assert.Equal(data.Length, info!.Length);
        Assert.Null(await worker.StatAsync("missing", ct));
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task ARelayServingMoreNamesThanItKeepsBindingsOf_StaysBounded_AndSeesEveryRebinding(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster { Transport = transport, BindingCacheSize = 4 };
        var root = await cluster.StartNodeAsync("root", parent: null);
        var relay = await cluster.StartNodeAsync("site", root.Address);
        await using var master = await TreeCluster.ConnectAsync(root);
        await using var worker = await TreeCluster.ConnectAsync(relay);
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 20; i++)
            {
                await master.PutAsync($"result-{i}", TestData.Random(1000 + i, (round * 100) + i), ct).AsTask().WaitAsync(Timeout, ct);
            }

            for (int i = 0; i < 20; i++)
            {
                Assert.Equal(TestData.Random(1000 + i, (round * 100) + i), await worker.GetAsync($"result-{i}", ct).AsTask().WaitAsync(Timeout, ct));
                Assert.InRange(relay.CachedBindings, 0, 4);
            }
        }
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task ChildrenTotal_KeepsTheTrafficOfChildrenThatLeft(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var data = TestData.Random(3 << 20, 7);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("dataset", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        for (int i = 0; i < 2; i++)
        {
            await using var worker = await TreeCluster.ConnectAsync(cluster.Root);
            Assert.Equal(data.Length, (await worker.GetAsync("dataset", ct).AsTask().WaitAsync(Timeout, ct)).Length);
        }

        // Both workers (and the master) are gone; what they moved is still counted, once.
        var deadline = DateTime.UtcNow + Timeout;
        while (cluster.Root.Children.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, ct);
        }

        var status = cluster.Root.GetStatus();
        Assert.Empty(status.Children);
        Assert.InRange(status.ChildrenTotal.PayloadOut, 2L * data.Length, (2L * data.Length) + (64 << 10));
        Assert.InRange(status.ChildrenTotal.PayloadIn, data.Length, data.Length + (64 << 10));
        Assert.True(status.ChildrenTotal.WireOut >= status.ChildrenTotal.PayloadOut);
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task TheSendersCounters_AreNeverBehindWhatTheReceiverHas(string transport)
    {
        // The counters are read the moment a Get returns (as the demo and the staging benchmark do):
        // bytes counted after their send completed could still be missing from them then.
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var data = TestData.Random(1 << 20, 8);
        await using var worker = await TreeCluster.ConnectAsync(cluster.Root);
        await worker.PutAsync("dataset", data, ct).AsTask().WaitAsync(Timeout, ct); // the root has its link once it answered
        var link = Assert.Single(cluster.Root.Children);
        long before = link.Counters.PayloadOut;
        for (int i = 1; i <= 40; i++)
        {
            Assert.Equal(data.Length, (await worker.GetAsync("dataset", ct).AsTask().WaitAsync(Timeout, ct)).Length);
            long payload = link.Counters.PayloadOut, wire = link.Counters.WireOut;
            Assert.True(payload - before >= (long)i * data.Length, $"Get {i}: the root counts {payload - before} payload bytes sent since the first Get; the worker has {(long)i * data.Length}");
            Assert.True(wire >= payload, $"Get {i}: the root counts {wire} wire bytes sent, fewer than its {payload} payload bytes");
        }
    }
}
