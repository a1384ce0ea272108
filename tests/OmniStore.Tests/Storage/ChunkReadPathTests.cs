using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// Chunks on disk are read straight from the log file at the location the store remembers, and
/// fall back to FASTER's read when that location is stale, gone or damaged.
/// </summary>
public sealed class ChunkReadPathTests : IDisposable
{
    private const int Chunk = ChunkLayout.MinChunkSize;
    private readonly TempDirectory _dir = new("omnistore-readpath");

    public void Dispose() => _dir.Dispose();

    private ContentStore Open(StoreMode mode = StoreMode.Pinned, long capacity = 64L << 20) =>
        ContentStore.Open(new ContentStoreOptions { Directory = _dir.Path, Mode = mode, Capacity = capacity, MaxChunkSize = Chunk });

    private static (ChunkId Id, byte[] Data) NewChunk(int seed)
    {
        var data = TestData.Random(Chunk, seed);
        return (ChunkId.Compute(data), data);
    }

    private static async Task<(ChunkReadStatus Status, byte[] Data)> ReadAsync(ContentStore store, ChunkId id)
    {
        var buffer = new byte[Chunk];
        var result = await store.ReadChunkAsync(id, buffer, TestContext.Current.CancellationToken);
        return (result.Status, buffer);
    }

    [Fact]
    public async Task ChunksOnDisk_AreReadStraightFromTheLogFile_AndAfterReopeningOnceTheirPlaceIsKnown()
    {
        var chunks = Enumerable.Range(0, 8).Select(NewChunk).ToList();
        using (var store = Open())
        {
            foreach (var (id, data) in chunks)
            {
                Assert.True(store.WriteChunk(id, data));
            }

            store.EvictChunkLogFromMemory();
            foreach (var (id, data) in chunks)
            {
                var (status, read) = await ReadAsync(store, id);
                Assert.Equal(ChunkReadStatus.Found, status);
                Assert.Equal(data, read);
                Assert.False(store.WriteChunk(id, data), "a chunk on disk was written again");
            }

            Assert.Equal(chunks.Count, store.DirectReads);
            Assert.Equal(chunks.Count, store.Hits);
            await store.CommitAsync(TestContext.Current.CancellationToken);
        }

        using var reopened = Open();
        reopened.EvictChunkLogFromMemory();
        for (int pass = 0; pass < 2; pass++)
        {
            foreach (var (id, data) in chunks)
            {
                var (status, read) = await ReadAsync(reopened, id);
                Assert.Equal(ChunkReadStatus.Found, status);
                Assert.Equal(data, read);
            }
        }

        // The first pass went through FASTER and learned where each chunk is; the second did not need it.
        Assert.Equal(chunks.Count, reopened.DirectReads);

        // The synchronous read takes the same path.
        var buffer = new byte[Chunk];
        Assert.Equal(ChunkReadStatus.Found, reopened.ReadChunk(chunks[0].Id, buffer).Status);
        Assert.Equal(chunks[0].Data, buffer);
        Assert.Equal(chunks.Count + 1, reopened.DirectReads);
    }

    [Fact]
    public async Task ADamagedChunkInAPinnedStore_StaysCorrupt_NeverMissing_UntilAVerifiedCopyReplacesIt()
    {
        var chunks = Enumerable.Range(20, 4).Select(NewChunk).ToList();
        using var store = Open();
        foreach (var (id, data) in chunks)
        {
            store.WriteChunk(id, data);
        }

        store.EvictChunkLogFromMemory();
        DamageOnDisk(chunks[2].Data);

        // Every read says Corrupt: the pinned store may hold the only copy, so it keeps the record.
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(ChunkReadStatus.Corrupt, (await ReadAsync(store, chunks[2].Id)).Status);
        }

        Assert.Equal([chunks[2].Id], store.DamagedChunks);
        Assert.True(store.IsDamaged(chunks[2].Id));
        foreach (var (id, data) in chunks.Where((_, i) => i != 2))
        {
            var (found, read) = await ReadAsync(store, id);
            Assert.Equal(ChunkReadStatus.Found, found);
            Assert.Equal(data, read);
        }

        // Bytes that are not the chunk repair nothing; a write of the chunk (a Put of the same data) does.
        Assert.False(store.RepairChunk(chunks[2].Id, chunks[3].Data));
        Assert.Equal(ChunkReadStatus.Corrupt, (await ReadAsync(store, chunks[2].Id)).Status);
        Assert.True(store.WriteChunk(chunks[2].Id, chunks[2].Data));
        var (again, bytes) = await ReadAsync(store, chunks[2].Id);
        Assert.Equal(ChunkReadStatus.Found, again);
        Assert.Equal(chunks[2].Data, bytes);
        Assert.Empty(store.DamagedChunks);
    }

    [Fact]
    public async Task ADamagedChunkInACache_IsReportedCorrupt_AndDropped_ToBeFetchedAgain()
    {
        var chunks = Enumerable.Range(30, 4).Select(NewChunk).ToList();
        using var store = Open(StoreMode.Cache);
        foreach (var (id, data) in chunks)
        {
            store.WriteChunk(id, data);
        }

        store.EvictChunkLogFromMemory();
        DamageOnDisk(chunks[2].Data);

        Assert.Equal(ChunkReadStatus.Corrupt, (await ReadAsync(store, chunks[2].Id)).Status);
        Assert.Equal(ChunkReadStatus.Missing, (await ReadAsync(store, chunks[2].Id)).Status);
        Assert.False(await store.ContainsChunkAsync(chunks[2].Id, TestContext.Current.CancellationToken));
        Assert.Empty(store.DamagedChunks);

        Assert.True(store.WriteChunk(chunks[2].Id, chunks[2].Data));
        Assert.Equal(ChunkReadStatus.Found, (await ReadAsync(store, chunks[2].Id)).Status);
    }

    [Fact]
    public async Task Verification_ReadsEveryChunk_WithProgress_AndMarksTheDamagedOnes()
    {
        var chunks = Enumerable.Range(40, 6).Select(NewChunk).ToList();
        using var store = Open();
        foreach (var (id, data) in chunks)
        {
            store.WriteChunk(id, data);
        }

        store.EvictChunkLogFromMemory();
        DamageOnDisk(chunks[1].Data);
        DamageOnDisk(chunks[4].Data);

        var seen = new List<VerifyProgress>();
        var report = await store.VerifyAsync(new SyncProgress<VerifyProgress>(seen.Add), TestContext.Current.CancellationToken);

        Assert.Equal(4, report.Verified);
        Assert.Equal(new HashSet<ChunkId> { chunks[1].Id, chunks[4].Id }, report.Damaged.Select(d => d.Id).ToHashSet());
        Assert.All(report.Damaged, d => Assert.Equal(Chunk, d.Length));
        Assert.False(report.Dropped);
        Assert.Equal(6, seen.Count);
        Assert.Equal(6 * (long)Chunk, seen[^1].Bytes);
        Assert.Equal(2, seen[^1].Damaged);
        Assert.Equal(report.Damaged.Select(d => d.Id).ToHashSet(), store.DamagedChunks.ToHashSet());
        Assert.Equal(ChunkReadStatus.Corrupt, (await ReadAsync(store, chunks[4].Id)).Status);
    }

    /// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; posts to the pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    [Fact]
    public async Task AfterAnEvictionPass_KeptChunksAreReadFromWhereTheyMoved_AndEvictedOnesAreMissing()
    {
        using var store = Open(StoreMode.Cache, capacity: 8L << 20);
        var first = Enumerable.Range(0, 20).Select(NewChunk).ToList();
        foreach (var (id, data) in first)
        {
            store.WriteChunk(id, data);
        }

        store.EvictChunkLogFromMemory();
        Assert.Equal(ChunkReadStatus.Found, (await ReadAsync(store, first[0].Id)).Status); // read: kept by the pass

        int seed = 1000;
        while (store.EvictedBytes == 0)
        {
            var (id, data) = NewChunk(seed++);
            store.WriteChunk(id, data);
            Assert.True(seed < 1400, "no eviction pass ran although the capacity was exceeded");
        }

        store.EvictChunkLogFromMemory();
        long directBefore = store.DirectReads;
        for (int pass = 0; pass < 2; pass++)
        {
            var (status, data) = await ReadAsync(store, first[0].Id);
            Assert.Equal(ChunkReadStatus.Found, status);
            Assert.Equal(first[0].Data, data);
        }

        // The first read found the old place gone and asked FASTER; the second used the new place.
        Assert.Equal(directBefore + 1, store.DirectReads);
        Assert.Equal(ChunkReadStatus.Missing, (await ReadAsync(store, first[1].Id)).Status);
    }

    [Fact]
    public void ACacheThatEvictsForgetsWhereTheDroppedChunksWere()
    {
        // 8 MiB hold about 110 chunks of 64 KiB; 600 go through. Locations of evicted chunks must not
        // pile up, or a long-running relay would stop remembering new ones.
        using var store = Open(StoreMode.Cache, capacity: 8L << 20);
        for (int i = 0; i < 600; i++)
        {
            var (id, data) = NewChunk(5000 + i);
            store.WriteChunk(id, data);
        }

        Assert.True(store.EvictedBytes > 0, "no eviction pass ran");
        Assert.InRange(store.RememberedLocations, 1, (int)((8L << 20) / Chunk) + 8);
    }

    private void DamageOnDisk(byte[] data) => StoreDamage.FlipByteOf(_dir.Path, data);
}
