using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

public sealed class TreeFaultTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task RelayKilledMidTransfer_ClientContinuesThroughItsFallback(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        var data = TestData.Random(48L << 20, 48);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("big", data, ct);
        }

        var relay = cluster.Relays[0];
        await using var worker = await TreeCluster.ConnectAsync(relay, new OmniStoreOptions { FallbackUris = [cluster.Root.Address.ToString()], TransferWindow = 2 });
        var sink = new TriggerStream(triggerAt: 8L << 20, () => _ = cluster.StopAsync(relay));
        long length = await worker.GetAsync("big", sink, ct).AsTask().WaitAsync(Timeout, ct);

        Assert.True(sink.Triggered, "the relay was never killed");
        Assert.Equal(data.Length, length);
        Assert.True(sink.ToArray().AsSpan().SequenceEqual(data));
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task ParentDown_RelayServesItsCache_FailsMissesWithUnavailable_AndRecoversWhenTheParentReturns(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        string rootDir = cluster.DirectoryOf("root-store");
        var root = await cluster.StartNodeAsync("root", parent: null, directory: rootDir);
        int rootPort = root.Address.Port;
        var relay = await cluster.StartNodeAsync("site", root.Address);
        var cached = TestData.Random(3L << 20, 1);
        var uncached = TestData.Random(3L << 20, 2);
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            await master.PutAsync("cached", cached, ct);
            await master.PutAsync("uncached", uncached, ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(relay);
        Assert.Equal(cached, await worker.GetAsync("cached", ct));

        await cluster.StopAsync(root);
        await WaitUntil(() => relay.Parent!.Current is null, ct);

        Assert.Equal(cached, await worker.GetAsync("cached", ct));
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("uncached", ct).AsTask());
        Assert.Equal(OmniStoreError.Unavailable, error.Error);

        root = await cluster.StartNodeAsync("root", parent: null, directory: rootDir, port: rootPort);
        await WaitUntil(() => relay.Parent!.Current is not null, ct);
        Assert.Equal(uncached, await worker.GetAsync("uncached", ct).AsTask().WaitAsync(Timeout, ct));
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task RootAndRelayRestart_KeepTheirData(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var data = TestData.Random(6L << 20, 6);
        var (rootDir, relayDir, rootAddress) = await CacheThroughRelayThenStopAsync(cluster, ct, ("kept", data));

        var root = await cluster.StartNodeAsync("root", null, rootDir, rootAddress.Port);
        var relay = await cluster.StartNodeAsync("site", root.Address, relayDir);
        await using (var worker = await TreeCluster.ConnectAsync(relay))
        {
            Assert.Equal(data, await worker.GetAsync("kept", ct));
        }

        Assert.Equal(0, relay.ChunkFetches.Executions); // every chunk came from the relay's own cache
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            Assert.Equal(data, await master.GetAsync("kept", ct));
        }
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task RelayRestartedWhileItsParentIsDown_ServesWhatItHasCached_ThenCatchesUp(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var first = TestData.Random(5L << 20, 31);
        var second = TestData.Random(3L << 20, 32);
        var (rootDir, relayDir, rootAddress) = await CacheThroughRelayThenStopAsync(cluster, ct, ("kept", first), ("never-read-here", second));

        // The relay comes back with its parent still down: what it had cached is served.
        var relay = await cluster.StartNodeAsync("site", rootAddress, relayDir);
        Assert.Null(relay.Parent!.Current);
        await using (var worker = await TreeCluster.ConnectAsync(relay))
        {
            Assert.Equal(first, await worker.GetAsync("kept", ct).AsTask().WaitAsync(Timeout, ct));
            Assert.Equal(first.Length, (await worker.StatAsync("kept", ct))!.Length);
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("never-read-here", ct).AsTask());
            Assert.Equal(OmniStoreError.Unavailable, error.Error);
        }

        // The root returns and the object is rebound: the relay asks again and serves the new version.
        var root = await cluster.StartNodeAsync("root", null, rootDir, rootAddress.Port);
        await WaitUntil(() => relay.Parent!.Current is not null, ct);
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            await master.PutAsync("kept", second, ct);
        }

        await using (var worker = await TreeCluster.ConnectAsync(relay))
        {
            Assert.Equal(second, await worker.GetAsync("kept", ct).AsTask().WaitAsync(Timeout, ct));
            Assert.Equal(second, await worker.GetAsync("never-read-here", ct).AsTask().WaitAsync(Timeout, ct));
        }
    }

    /// <summary>
    /// Starts a root and a relay with stores in the cluster's directory, puts <paramref name="objects"/>
    /// at the root, gets the first through the relay (so the relay caches it), and stops both.
    /// </summary>
    private static async Task<(string RootDir, string RelayDir, NodeAddress RootAddress)> CacheThroughRelayThenStopAsync(
        TreeCluster cluster, CancellationToken ct, params (string Name, byte[] Data)[] objects)
    {
        string rootDir = cluster.DirectoryOf("root-store");
        string relayDir = cluster.DirectoryOf("relay-store");
        var root = await cluster.StartNodeAsync("root", null, rootDir);
        var relay = await cluster.StartNodeAsync("site", root.Address, relayDir);
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            foreach (var (name, data) in objects)
            {
                await master.PutAsync(name, data, ct);
            }
        }

        await using (var worker = await TreeCluster.ConnectAsync(relay))
        {
            Assert.Equal(objects[0].Data, await worker.GetAsync(objects[0].Name, ct));
        }

        await cluster.StopAsync(relay);
        await cluster.StopAsync(root);
        return (rootDir, relayDir, root.Address);
    }

    private static async Task WaitUntil(Func<bool> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not become true within 30 s");
            await Task.Delay(20, ct);
        }
    }

    /// <summary>A memory stream that runs an action once, when the given number of bytes has been written.</summary>
    private sealed class TriggerStream(long triggerAt, Action action) : MemoryStream
    {
        public bool Triggered { get; private set; }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await base.WriteAsync(buffer, cancellationToken);
            if (!Triggered && Length >= triggerAt)
            {
                Triggered = true;
                action();
            }
        }
    }
}
