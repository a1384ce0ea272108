using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A root never drops a chunk that fails verification: it asks its relays for their verified copy
/// and repairs its own, so the Get that found the damage completes and so does every later one.
/// With no verified copy anywhere the object is damaged, and says so the same way every time.
/// </summary>
public sealed class RepairTests : IDisposable
{
    private const int ChunkSize = 64 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new("omnistore-repair");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ARootsDamagedChunk_IsRepairedFromARelaysCopy_AndEveryLaterGetSucceeds_WithNoRePut()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var data = TestData.Random(16 * ChunkSize, 71);
        var options = new OmniStoreOptions { ChunkSize = ChunkSize };
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root, options))
        {
            await master.PutAsync("precious", data, ct);
        }

        await using (var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], options))
        {
            Assert.Equal(data, await worker.GetAsync("precious", ct).AsTask().WaitAsync(Timeout, ct)); // the relay now holds every chunk
        }

        cluster.Root.Store.EvictChunkLogFromMemory();
        StoreDamage.FlipByteOf(cluster.Root.Store.Directory, data[(5 * ChunkSize)..(6 * ChunkSize)]);

        await using var direct = await TreeCluster.ConnectAsync(cluster.Root, options);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(data, await direct.GetAsync("precious", ct).AsTask().WaitAsync(Timeout, ct));
        }

        Assert.Empty(cluster.Root.Store.DamagedChunks);
        cluster.Root.Store.EvictChunkLogFromMemory();
        Assert.Equal(data, await direct.GetAsync("precious", ct).AsTask().WaitAsync(Timeout, ct)); // the repaired copy, from disk
    }

    [Fact]
    public async Task WithNoVerifiedCopyAnywhere_EveryGetSaysCorrupt_NeverNotFound_UntilAPutOfTheSameDataRepairsIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1); // the relay caches nothing of it
        var data = TestData.Random(8 * ChunkSize, 72);
        var options = new OmniStoreOptions { ChunkSize = ChunkSize };
        await using var master = await TreeCluster.ConnectAsync(cluster.Root, options);
        await master.PutAsync("fragile", data, ct);
        cluster.Root.Store.EvictChunkLogFromMemory();
        StoreDamage.FlipByteOf(cluster.Root.Store.Directory, data[(2 * ChunkSize)..(3 * ChunkSize)]);

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], options);
        foreach (var client in new[] { master, worker, master, worker })
        {
            var ex = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetAsync("fragile", ct).AsTask().WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.Corrupt, ex.Error);
        }

        Assert.Single(cluster.Root.Store.DamagedChunks);

        await master.PutAsync("fragile", data, ct);
        Assert.Equal(data, await worker.GetAsync("fragile", ct).AsTask().WaitAsync(Timeout, ct));
        Assert.Empty(cluster.Root.Store.DamagedChunks);
    }

    [Fact]
    public async Task InTheEmbeddedStore_ADamagedObject_IsCorruptOnEveryGet_AndStatNamesItsDamagedChunks()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path, ChunkSize = ChunkSize });
        var data = TestData.Random(8 * ChunkSize, 73);
        await client.PutAsync("local", data, ct);
        var store = ((EmbeddedNode)client.Service).Store;
        store.EvictChunkLogFromMemory();
        StoreDamage.FlipByteOf(store.Directory, data[(6 * ChunkSize)..(7 * ChunkSize)]);

        for (int i = 0; i < 3; i++)
        {
            var ex = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetAsync("local", ct).AsTask());
            Assert.Equal(OmniStoreError.Corrupt, ex.Error);
            Assert.Contains("chunk 6", ex.Message, StringComparison.OrdinalIgnoreCase);
        }

        var info = await client.StatAsync("local", ct);
        Assert.Equal([6], info!.DamagedChunks);

        await client.PutAsync("local", data, ct);
        Assert.Equal(data, await client.GetAsync("local", ct));
        Assert.Empty((await client.StatAsync("local", ct))!.DamagedChunks);
    }

    [Fact]
    public async Task AVerificationOfTheRoot_FindsItsDamage_AndRepairsItFromARelay_BeforeAnyGetAsks()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var data = TestData.Random(12 * ChunkSize, 74);
        var other = TestData.Random(4 * ChunkSize, 75);
        var options = new OmniStoreOptions { ChunkSize = ChunkSize };
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root, options))
        {
            await master.PutAsync("cached", data, ct);
            await master.PutAsync("uncached", other, ct);
        }

        await using (var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], options))
        {
            Assert.Equal(data, await worker.GetAsync("cached", ct).AsTask().WaitAsync(Timeout, ct));
        }

        cluster.Root.Store.EvictChunkLogFromMemory();
        StoreDamage.FlipByteOf(cluster.Root.Store.Directory, data[(3 * ChunkSize)..(4 * ChunkSize)]);
        StoreDamage.FlipByteOf(cluster.Root.Store.Directory, other[..ChunkSize]);

        var seen = 0L;
        var result = await cluster.Root.VerifyAsync(new Counter(() => Interlocked.Increment(ref seen)), ct).WaitAsync(Timeout, ct);

        Assert.Equal(16, result.VerifiedChunks + result.DamagedChunks.Count + result.RepairedChunks.Count);
        Assert.Equal([ChunkId.Compute(data.AsSpan(3 * ChunkSize, ChunkSize))], result.RepairedChunks);
        Assert.Equal([ChunkId.Compute(other.AsSpan(0, ChunkSize))], result.DamagedChunks); // no relay has it
        Assert.Equal(["uncached"], result.DamagedObjects);
        Assert.False(result.IsWhole);
        Assert.Equal(16, Interlocked.Read(ref seen));
        Assert.Equal([ChunkId.Compute(other.AsSpan(0, ChunkSize))], cluster.Root.Store.DamagedChunks);
    }

    [Fact]
    public async Task OnItsInterval_ARootVerifiesItselfAndRepairs()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartWithAsync(relays: 1, o => o with { VerifyInterval = TimeSpan.FromMilliseconds(300), MinVerifyInterval = TimeSpan.Zero });
        var data = TestData.Random(8 * ChunkSize, 76);
        var options = new OmniStoreOptions { ChunkSize = ChunkSize };
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root, options))
        {
            await master.PutAsync("scrubbed", data, ct);
        }

        await using (var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], options))
        {
            Assert.Equal(data, await worker.GetAsync("scrubbed", ct).AsTask().WaitAsync(Timeout, ct));
        }

        cluster.Root.Store.EvictChunkLogFromMemory();
        var damaged = ChunkId.Compute(data.AsSpan(ChunkSize, ChunkSize));
        StoreDamage.FlipByteOf(cluster.Root.Store.Directory, data[ChunkSize..(2 * ChunkSize)]);

        var deadline = DateTime.UtcNow + Timeout;
        // Counted over every run: the run after the repair finds nothing and replaces LastVerification.
        while (cluster.Root.RepairedByVerification == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, ct);
        }

        Assert.Equal(1, cluster.Root.RepairedByVerification);
        Assert.Empty(cluster.Root.Store.DamagedChunks);
        cluster.Root.Store.EvictChunkLogFromMemory();
        var copy = new byte[ChunkSize];
        Assert.Equal(ChunkReadStatus.Found, cluster.Root.Store.ReadChunk(damaged, copy).Status);
        Assert.Equal(data[ChunkSize..(2 * ChunkSize)], copy);
    }

    private sealed class Counter(Action tick) : IProgress<VerifyProgress>
    {
        public void Report(VerifyProgress value) => tick();
    }
}
