using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

public sealed class TreeTransferTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task EightWorkersAtOnce_EachRelayReceivesTheObjectOnce(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        const long Size = 64L << 20;
        await using var cluster = await TreeCluster.StartAsync(relays: 2, transport: transport);
        var data = TestData.Random(Size, 64);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("common", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        // Counted by the transport (what crossed each parent link) and by the protocol (payload).
        long[] wireBefore = cluster.Relays.Select(r => r.Parent!.Counters.WireIn).ToArray();
        long[] payloadBefore = cluster.Relays.Select(r => r.Parent!.Counters.PayloadIn).ToArray();
        var workers = Enumerable.Range(0, 8).Select(async w =>
        {
            await using var client = await TreeCluster.ConnectAsync(cluster.Relays[w % 2]);
            var copy = await client.GetAsync("common", ct);
            Assert.True(copy.AsSpan().SequenceEqual(data), $"worker {w} got different bytes");
        });
        await Task.WhenAll(workers).WaitAsync(Timeout, ct);

        for (int i = 0; i < 2; i++)
        {
            long wireBytes = cluster.Relays[i].Parent!.Counters.WireIn - wireBefore[i];
            long payloadBytes = cluster.Relays[i].Parent!.Counters.PayloadIn - payloadBefore[i];
            Assert.InRange(wireBytes, Size, (long)(Size * 1.01));
            Assert.InRange(payloadBytes, Size, (long)(Size * 1.01));
            Assert.Equal(64, cluster.Relays[i].ChunkFetches.Executions);
        }
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task AfterARebinding_EveryWorkerReadsTheNewContent(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2, transport: transport);
        var clients = new List<OmniStoreClient>();
        try
        {
            for (int i = 0; i < 8; i++)
            {
                clients.Add(await TreeCluster.ConnectAsync(cluster.Relays[i % 2]));
            }

            for (int version = 1; version <= 4; version++)
            {
                var data = TestData.Random((2L << 20) + version, version);
                // Each version is written by a different worker: results travel the same path as inputs.
                await clients[version % 8].PutAsync("config", data, ct).AsTask().WaitAsync(Timeout, ct);
                foreach (var client in clients)
                {
                    Assert.Equal(data, await client.GetAsync("config", ct).AsTask().WaitAsync(Timeout, ct));
                }
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task ConcurrentRebinding_NoWorkerEverSeesMixedVersions(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2, transport: transport);
        const int Length = (3 << 20) + 77;
        await using var master = await TreeCluster.ConnectAsync(cluster.Root, new OmniStoreOptions { ChunkSize = 1 << 20 });
        await master.PutAsync("hot", new byte[Length], ct);
        var writer = Task.Run(
            async () =>
            {
                for (byte v = 1; v <= 12; v++)
                {
                    var data = new byte[Length];
                    data.AsSpan().Fill(v);
                    await master.PutAsync("hot", data, ct);
                }
            },
            ct);
        var readers = Enumerable.Range(0, 4).Select(r => Task.Run(
            async () =>
            {
                await using var client = await TreeCluster.ConnectAsync(cluster.Relays[r % 2]);
                int reads = 0;
                while (!writer.IsCompleted || reads == 0)
                {
                    var data = await client.GetAsync("hot", ct);
                    Assert.Equal(Length, data.Length);
                    Assert.True(data.AsSpan().IndexOfAnyExcept(data[0]) < 0, "a Get mixed chunks of two versions");
                    reads++;
                }
            },
            ct));
        await Task.WhenAll(readers.Append(writer)).WaitAsync(Timeout, ct);
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task WorkerResults_AreGatheredByTheMaster(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2, transport: transport);
        var results = Enumerable.Range(0, 8).Select(w => TestData.Random(100_000 + w, 1000 + w)).ToArray();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async w =>
        {
            await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[w % 2]);
            await worker.PutAsync($"result/{w}", results[w], ct);
        })).WaitAsync(Timeout, ct);

        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        for (int w = 0; w < 8; w++)
        {
            Assert.Equal(results[w], await master.GetAsync($"result/{w}", ct));
        }
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task Broadcast_ReachesEveryRelayBeforeAnyWorkerAsks(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2, transport: transport);
        var data = TestData.Random(8L << 20, 8);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("staged", data, new PutOptions { Broadcast = true }, ct).AsTask().WaitAsync(Timeout, ct);
        }

        // No worker has asked yet, and every relay already holds every chunk.
        foreach (var relay in cluster.Relays)
        {
            Assert.Equal(0, relay.ChunkFetches.Executions);
            Assert.True(relay.Store.UsedBytes >= data.Length, $"relay {relay.Site} holds {relay.Store.UsedBytes} bytes");
        }

        foreach (var relay in cluster.Relays)
        {
            await using var worker = await TreeCluster.ConnectAsync(relay);
            Assert.Equal(data, await worker.GetAsync("staged", ct));
            Assert.Equal(0, relay.ChunkFetches.Executions);
        }
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task Prefetch_FillsTheRelayCache(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        var data = TestData.Random(4L << 20, 4);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("later", data, ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        await worker.PrefetchAsync("later", ct);
        long fetched = cluster.Relays[0].ChunkFetches.Executions;
        Assert.Equal(4, fetched);
        Assert.Equal(data, await worker.GetAsync("later", ct));
        Assert.Equal(fetched, cluster.Relays[0].ChunkFetches.Executions);
    }
}
