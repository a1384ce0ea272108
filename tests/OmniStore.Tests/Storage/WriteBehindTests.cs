using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// A cache store writes a relay's fetched chunks behind (ContentStore.WriteBehind.cs): a chunk
/// handed over is found at once, is in the log once written, its buffer's owner is released
/// exactly once, and closing writes what still waits.
/// </summary>
public sealed class WriteBehindTests : IDisposable
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _dir = new("omnistore-write-behind");

    public void Dispose() => _dir.Dispose();

    private ContentStoreOptions Options(StoreMode mode = StoreMode.Cache) => new()
    {
        Directory = _dir.Sub("store"),
        Mode = mode,
        Capacity = mode == StoreMode.Cache ? 256L << 20 : 0,
        MaxChunkSize = ChunkLayout.DefaultChunkSize,
    };

    [Fact]
    public async Task AChunkHandedOver_IsFoundAtOnce_ThenWritten_AndItsOwnerReleasedOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var store = ContentStore.Open(Options());
        var data = TestData.Random(300_000, 1);
        var id = ChunkId.Compute(data);
        var owner = new CountingOwner();

        Assert.True(store.TryWriteChunkLater(id, data, owner));

        // Found whether it is still waiting or written already.
        Assert.True(await store.ContainsChunkAsync(id, ct));
        var read = new byte[data.Length];
        Assert.Equal(new ChunkReadResult(ChunkReadStatus.Found, data.Length), await store.ReadChunkAsync(id, read, ct));
        Assert.Equal(data, read);

        await WaitUntilAsync(() => store.PendingChunkBytes == 0 && owner.Disposals == 1, ct);
        Assert.Equal(1, store.ChunksWrittenBehind);

        // In the log now: a second hand-over of the same chunk is a duplicate, written nowhere.
        Assert.True(store.TryWriteChunkLater(id, data, new CountingOwner()));
        await WaitUntilAsync(() => store.PendingChunkBytes == 0, ct);
        Assert.Equal(data, await ReadAsync(store, id, data.Length, ct));
        Assert.Equal(1, owner.Disposals);
    }

    [Fact]
    public async Task AChunkWaiting_IsNotTakenTwice_AndAWriteOfItIsADuplicate()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var store = ContentStore.Open(Options());
        var chunks = Enumerable.Range(0, 40).Select(i => TestData.Random(ChunkLayout.DefaultChunkSize, 100 + i)).ToList();
        var owners = new List<CountingOwner>();
        int taken = 0;
        foreach (var data in chunks)
        {
            var owner = new CountingOwner();
            owners.Add(owner);
            if (store.TryWriteChunkLater(ChunkId.Compute(data), data, owner))
            {
                taken++;
            }
            else
            {
                // Refused (too much waiting): the caller writes it itself, as a relay's fetch does.
                owner.Dispose();
                store.WriteChunk(ChunkId.Compute(data), data);
            }
        }

        Assert.True(taken >= 1, "a store with nothing waiting always takes a chunk");
        Assert.True(store.PendingChunkBytes <= ContentStore.WriteBehindLimit, $"{store.PendingChunkBytes} bytes waiting, more than the limit");
        await WaitUntilAsync(() => store.PendingChunkBytes == 0 && owners.All(o => o.Disposals == 1), ct);
        foreach (var data in chunks)
        {
            Assert.Equal(data, await ReadAsync(store, ChunkId.Compute(data), data.Length, ct));
        }
    }

    [Fact]
    public async Task FetchesHandingOverMoreThanTheLimit_WaitForRoom_AndEveryChunkIsWrittenOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var store = ContentStore.Open(Options());
        var chunks = Enumerable.Range(0, 48).Select(i => TestData.Random(ChunkLayout.DefaultChunkSize, 300 + i)).ToList();
        var owners = chunks.Select(_ => new CountingOwner()).ToList();
        long mostWaiting = 0;
        using var watching = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                mostWaiting = Math.Max(mostWaiting, store.PendingChunkBytes);
                await Task.Yield();
            }
        }, ct);

        var taken = await Task.WhenAll(chunks.Select((data, i) => store.WriteChunkBehindAsync(ChunkId.Compute(data), data, owners[i], ct).AsTask()));
        await watching.CancelAsync();
        await watcher;

        Assert.All(taken, Assert.True);
        Assert.True(mostWaiting <= ContentStore.WriteBehindLimit, $"{mostWaiting} bytes waited at once, more than the limit of {ContentStore.WriteBehindLimit}");
        await WaitUntilAsync(() => store.PendingChunkBytes == 0 && owners.All(o => o.Disposals == 1), ct);
        Assert.Equal(chunks.Count, store.ChunksWrittenBehind);
        foreach (var data in chunks)
        {
            Assert.Equal(data, await ReadAsync(store, ChunkId.Compute(data), data.Length, ct));
        }
    }

    [Fact]
    public async Task Closing_WritesWhatWaits_AndTheReopenedCacheHasIt()
    {
        var ct = TestContext.Current.CancellationToken;
        var chunks = Enumerable.Range(0, 20).Select(i => TestData.Random(200_000, 200 + i)).ToList();
        var owners = new List<CountingOwner>();
        await using (var store = ContentStore.Open(Options()))
        {
            foreach (var data in chunks)
            {
                var owner = new CountingOwner();
                owners.Add(owner);
                if (!store.TryWriteChunkLater(ChunkId.Compute(data), data, owner))
                {
                    owner.Dispose();
                    store.WriteChunk(ChunkId.Compute(data), data);
                }
            }
        }

        Assert.All(owners, o => Assert.Equal(1, o.Disposals));
        await using var reopened = ContentStore.Open(Options());
        foreach (var data in chunks)
        {
            Assert.Equal(data, await ReadAsync(reopened, ChunkId.Compute(data), data.Length, ct));
        }
    }

    [Fact]
    public async Task APinnedStore_WritesNothingBehind_ItsCommitMustHoldEveryChunk()
    {
        await using var store = ContentStore.Open(Options(StoreMode.Pinned));
        var data = TestData.Random(1000, 3);
        Assert.Throws<InvalidOperationException>(() => store.TryWriteChunkLater(ChunkId.Compute(data), data, new CountingOwner()));
    }

    [Fact]
    public async Task AClosedStore_TakesNothing()
    {
        var store = ContentStore.Open(Options());
        await store.DisposeAsync();
        var data = TestData.Random(1000, 4);
        var owner = new CountingOwner();
        Assert.False(store.TryWriteChunkLater(ChunkId.Compute(data), data, owner));
        Assert.Equal(0, owner.Disposals); // not taken: still the caller's
    }

    private static async Task<byte[]> ReadAsync(ContentStore store, ChunkId id, int length, CancellationToken ct)
    {
        var buffer = new byte[length];
        var result = await store.ReadChunkAsync(id, buffer, ct);
        Assert.Equal(ChunkReadStatus.Found, result.Status);
        return buffer[..result.Length];
    }

    private static async Task WaitUntilAsync(Func<bool> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the writer");
            await Task.Delay(10, ct);
        }
    }

    private sealed class CountingOwner : IDisposable
    {
        private int _disposals;

        public int Disposals => Volatile.Read(ref _disposals);

        public void Dispose() => Interlocked.Increment(ref _disposals);
    }
}
