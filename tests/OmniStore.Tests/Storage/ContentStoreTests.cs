using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

public sealed class ContentStoreTests : IDisposable
{
    // 64 KiB chunks give 1 MiB log pages, so a few MiB of capacity holds dozens of chunks.
    private const int Chunk = ChunkLayout.MinChunkSize;
    private const long SmallCapacity = 8L << 20;
    private readonly TempDirectory _dir = new("omnistore-store");

    public void Dispose() => _dir.Dispose();

    private ContentStore Open(StoreMode mode, long capacity = SmallCapacity) =>
        ContentStore.Open(new ContentStoreOptions { Directory = _dir.Path, Mode = mode, Capacity = capacity, MaxChunkSize = Chunk });

    private static (ChunkId Id, byte[] Data) NewChunk(int seed)
    {
        var data = TestData.Random(Chunk, seed);
        return (ChunkId.Compute(data), data);
    }

    private static async Task<bool> HasAsync(ContentStore store, ChunkId id) =>
        (await store.ReadChunkAsync(id, new byte[Chunk], TestContext.Current.CancellationToken)).Status == ChunkReadStatus.Found;

    /// <summary>Fills about 80% of a small store with one object, deletes it, and writes as much again: only reclaiming fits it.</summary>
    private static async Task FillDeleteAndFillAgainAsync(ContentStore store)
    {
        var ct = TestContext.Current.CancellationToken;
        for (int round = 0; round < 2; round++)
        {
            var chunks = new List<ChunkId>();
            for (int i = 0; i < 100; i++)
            {
                var (id, data) = NewChunk((round * 1000) + i);
                store.WriteChunk(id, data);
                chunks.Add(id);
            }

            var manifest = new Manifest(new ChunkLayout((long)chunks.Count * Chunk, Chunk), chunks);
            store.WriteManifest(manifest);
            await store.BindAsync("object", manifest.Id, ct);
            await store.CommitAsync(ct);
            Assert.True(await store.UnbindAsync("object", ct));
        }
    }

    [Fact]
    public async Task Cache_EvictionPass_KeepsRecentlyReadChunk_AndEvictsOlderUnreadOnes()
    {
        using var store = Open(StoreMode.Cache);
        var first = Enumerable.Range(0, 20).Select(NewChunk).ToList();
        foreach (var (id, data) in first)
        {
            Assert.True(store.WriteChunk(id, data));
        }

        // The oldest chunk is read; its neighbours, written at the same time, are not.
        Assert.True(await HasAsync(store, first[0].Id));

        // Fill until eviction happens, then stop: exactly one pass has run when EvictedBytes moves.
        int seed = 1000;
        while (store.EvictedBytes == 0)
        {
            var (id, data) = NewChunk(seed++);
            store.WriteChunk(id, data);
            Assert.True(seed < 1000 + 400, "no eviction pass ran although the capacity was exceeded");
        }

        Assert.True(await HasAsync(store, first[0].Id), "the recently read chunk was evicted");
        Assert.False(await HasAsync(store, first[1].Id), "an older unread chunk survived the pass");
        Assert.True(store.UsedBytes <= SmallCapacity);
    }

    [Fact]
    public async Task Cache_StaysWithinCapacity_WhileWritingManyTimesItsSize()
    {
        using var store = Open(StoreMode.Cache);
        var recent = new List<ChunkId>();
        for (int i = 0; i < 600; i++)
        {
            var (id, data) = NewChunk(i);
            store.WriteChunk(id, data);
            recent.Add(id);
            Assert.True(store.UsedBytes <= SmallCapacity, $"after {i} chunks the cache holds {store.UsedBytes} bytes");
        }

        // The newest chunks are still there; the oldest are long gone.
        Assert.True(await HasAsync(store, recent[^1]));
        Assert.False(await HasAsync(store, recent[0]));
    }

    [Fact]
    public async Task Cache_CatalogIsACacheToo_UnusedNamesAndManifestsGo_UsedOnesStay()
    {
        // A relay learns names for as long as it runs; its catalog must not fill its capacity.
        var ct = TestContext.Current.CancellationToken;
        using var store = Open(StoreMode.Cache);
        var manifests = new List<Manifest>();
        for (int i = 0; i < 200; i++)
        {
            // 160 KB manifests (10,000 chunk ids each): 200 of them are four times the capacity.
            var ids = Enumerable.Range(0, 10_000).Select(c => new ChunkId(new UInt128((ulong)i, (ulong)c))).ToList();
            var manifest = new Manifest(new ChunkLayout((long)ids.Count * Chunk, Chunk), ids);
            store.WriteManifest(manifest);
            await store.BindIfNewerAsync($"object-{i}", new Binding(manifest.Id, 1, true), ct);
            manifests.Add(manifest);

            // One name stays in use all along; the others are only written.
            var hot = await store.ResolveAsync("object-0", ct);
            Assert.NotNull(await store.ReadManifestAsync(hot!.Value.ManifestId, ct));
            Assert.True(store.UsedBytes <= SmallCapacity, $"after {i + 1} names the cache holds {store.UsedBytes} bytes");
        }

        Assert.True(store.EvictedBytes > 0);
        Assert.Equal(manifests[0].Id, (await store.ResolveAsync("object-0", ct))!.Value.ManifestId);
        Assert.Null(await store.ResolveAsync("object-1", ct));
        Assert.Null(await store.ReadManifestAsync(manifests[1].Id, ct));
        Assert.Equal(manifests[^1].Id, (await store.ResolveAsync("object-199", ct))!.Value.ManifestId);
        Assert.NotNull(await store.ReadManifestAsync(manifests[^1].Id, ct));
    }

    [Fact]
    public async Task Pinned_KeepsEveryBindingAndItsManifest_ThroughReclamation()
    {
        var ct = TestContext.Current.CancellationToken;
        using var store = Open(StoreMode.Pinned);
        var empty = new Manifest(new ChunkLayout(0, Chunk), []);
        store.WriteManifest(empty);
        for (int i = 0; i < 50; i++)
        {
            await store.BindAsync($"name-{i}", empty.Id, ct);
        }

        await FillDeleteAndFillAgainAsync(store);

        Assert.True(store.EvictedBytes > 0);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(new Binding(empty.Id, 1, true), await store.ResolveAsync($"name-{i}", ct));
        }

        Assert.NotNull(await store.ReadManifestAsync(empty.Id, ct));
    }

    [Fact]
    public async Task Cache_KeepsPinnedChunks_EvenWhenNeverRead()
    {
        using var store = Open(StoreMode.Cache);
        var (keptId, keptData) = NewChunk(-1);
        store.WriteChunk(keptId, keptData);
        using (store.Pin([keptId]))
        {
            for (int i = 0; i < 400; i++)
            {
                var (id, data) = NewChunk(i);
                store.WriteChunk(id, data);
            }

            Assert.True(store.EvictedBytes > 0);
            Assert.True(await HasAsync(store, keptId));
        }
    }

    [Fact]
    public void Pinned_WhenFull_RefusesNewDataWithStoreFull_AndKeepsEverything()
    {
        using var store = Open(StoreMode.Pinned);
        var written = new List<ChunkId>();
        var error = Assert.Throws<OmniStoreException>(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                var (id, data) = NewChunk(i);
                store.WriteChunk(id, data);
                written.Add(id);
            }
        });

        Assert.Equal(OmniStoreError.StoreFull, error.Error);
        Assert.Contains("full", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.True(written.Count > 50);
        Assert.Equal(0, store.EvictedBytes);
        foreach (var id in written)
        {
            Assert.Equal(ChunkReadStatus.Found, store.ReadChunk(id, new byte[Chunk]).Status);
        }
    }

    [Fact]
    public async Task Pinned_ReclaimsTheSpaceOfDeletedObjects_BeforeRefusing()
    {
        using var store = Open(StoreMode.Pinned);
        await FillDeleteAndFillAgainAsync(store);

        Assert.True(store.EvictedBytes > 0);
    }

    [Fact]
    public async Task Reopen_KeepsChunksManifestsAndBindings()
    {
        var (id, data) = NewChunk(5);
        var manifest = new Manifest(new ChunkLayout(Chunk, Chunk), [id]);
        using (var store = Open(StoreMode.Cache))
        {
            store.WriteChunk(id, data);
            store.WriteManifest(manifest);
            await store.BindAsync("name", manifest.Id, TestContext.Current.CancellationToken);
            await store.BindAsync("name", manifest.Id, TestContext.Current.CancellationToken);
            await store.CommitAsync(TestContext.Current.CancellationToken);
        }

        using (var store = Open(StoreMode.Cache))
        {
            var binding = await store.ResolveAsync("name", TestContext.Current.CancellationToken);
            Assert.Equal(new Binding(manifest.Id, 2, true), binding);
            var read = await store.ReadManifestAsync(manifest.Id, TestContext.Current.CancellationToken);
            Assert.Equal(manifest.Chunks, read!.Chunks);
            var buffer = new byte[Chunk];
            Assert.Equal(new ChunkReadResult(ChunkReadStatus.Found, Chunk), await store.ReadChunkAsync(id, buffer, TestContext.Current.CancellationToken));
            Assert.Equal(data, buffer);
        }
    }

    [Fact]
    public void Open_TheSameDirectoryTwice_FailsWithUnavailable()
    {
        using var store = Open(StoreMode.Pinned);
        var error = Assert.Throws<OmniStoreException>(() => Open(StoreMode.Pinned));
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
    }

    [Fact]
    public async Task Unbind_LeavesATombstone_SoVersionsNeverRepeat()
    {
        using var store = Open(StoreMode.Pinned);
        var manifest = new Manifest(new ChunkLayout(0, Chunk), []);
        store.WriteManifest(manifest);
        Assert.Equal(1, (await store.BindAsync("n", manifest.Id, TestContext.Current.CancellationToken)).Version);
        Assert.True(await store.UnbindAsync("n", TestContext.Current.CancellationToken));
        Assert.False(await store.UnbindAsync("n", TestContext.Current.CancellationToken));
        Assert.Equal(3, (await store.BindAsync("n", manifest.Id, TestContext.Current.CancellationToken)).Version);
    }

    [Fact]
    public async Task ManifestLargerThanOnePart_RoundTrips()
    {
        using var store = Open(StoreMode.Pinned, capacity: 0);
        var ids = Enumerable.Range(0, 200_000).Select(i => new ChunkId(new UInt128((ulong)i, (ulong)i * 31))).ToList();
        var manifest = new Manifest(new ChunkLayout((long)ids.Count * Chunk, Chunk), ids);
        store.WriteManifest(manifest);
        var read = await store.ReadManifestAsync(manifest.Id, TestContext.Current.CancellationToken);
        Assert.NotNull(read);
        Assert.Equal(manifest.Id, read.Id);
        Assert.Equal(ids, read.Chunks);
    }

    [Theory]
    [InlineData(StoreMode.Cache)]
    [InlineData(StoreMode.Pinned)]
    public async Task LogFlushes_GoStraightToDisk_AndChunksReadBackAfterReopening(StoreMode mode)
    {
        var chunks = Enumerable.Range(100, 40).Select(NewChunk).ToList(); // 2.5 MiB: log pages are 128 KiB
        using (var store = Open(mode, capacity: 64L << 20))
        {
            foreach (var (id, data) in chunks)
            {
                store.WriteChunk(id, data);
            }

            await store.CommitAsync(TestContext.Current.CancellationToken);
            var (direct, buffered) = store.DataLogWrites;
            Assert.True(direct + buffered > 0, "the log was never flushed");
            if (store.DataLogWritesDirectly)
            {
                // FASTER aligns its page buffers and flush ranges to the device's sector size.
                Assert.Equal(0, buffered);
            }
        }

        using var reopened = Open(mode, capacity: 64L << 20);
        foreach (var (id, data) in chunks)
        {
            var buffer = new byte[Chunk];
            var result = await reopened.ReadChunkAsync(id, buffer, TestContext.Current.CancellationToken);
            Assert.Equal(ChunkReadStatus.Found, result.Status);
            Assert.Equal(data, buffer);
        }
    }
}
