using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// A cache store checkpoints itself in the background, by time and by bytes written, so that a
/// process killed without warning reopens with what it cached until then. A crash is simulated by
/// copying the store's files while it is open (what the kernel holds when a process dies), without
/// the final checkpoint a close takes; the CLI's relay test kills a real process.
/// </summary>
public sealed class BackgroundCheckpointTests : IDisposable
{
    private const int Chunk = ChunkLayout.MinChunkSize;
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _dir = new("omnistore-ckpt");

    public void Dispose() => _dir.Dispose();

    private ContentStoreOptions Options(StoreMode mode, TimeSpan interval, long bytes, string? directory = null) => new()
    {
        Directory = directory ?? _dir.Sub("store"),
        Mode = mode,
        Capacity = mode == StoreMode.Cache ? 64L << 20 : 0,
        MaxChunkSize = Chunk,
        CheckpointInterval = interval,
        CheckpointBytes = bytes,
    };

    [Fact]
    public async Task OpenAndClose_OfAStoreThatOnlyReads_TakeNoCheckpoint_AWriteIsCommittedAtClose_AndACrashKeepsWhatWasCommitted()
    {
        var options = Options(StoreMode.Pinned, TimeSpan.Zero, 0);
        List<ChunkId> ids;
        using (var store = ContentStore.Open(options))
        {
            ids = WriteChunks(store, 2, firstSeed: 1);
        }

        // A command that only reads (omnistore get on an embedded store) opens and exits without a
        // checkpoint: the recovered state is the committed one.
        var committed = CommitRecords(options.Directory);
        using (var store = ContentStore.Open(options))
        {
            Assert.Equal(committed, CommitRecords(options.Directory));
            Assert.True(store.IsCommitted);
            Assert.Equal(2, await CountFoundAsync(store, ids));
        }

        Assert.Equal(committed, CommitRecords(options.Directory));

        // A write after such an open: lost by a crash before any commit (nothing acknowledged it),
        // with everything committed before kept; committed at close, and found after reopening.
        List<ChunkId> more;
        using (var store = ContentStore.Open(options))
        {
            more = WriteChunks(store, 1, firstSeed: 10);
            Assert.False(store.IsCommitted);
            await using (var crashed = ContentStore.Open(options with { Directory = CrashCopy(options) }))
            {
                Assert.Equal(2, await CountFoundAsync(crashed, [.. ids, .. more]));
            }

            await store.CommitAsync(TestContext.Current.CancellationToken);
            await using (var crashed = ContentStore.Open(options with { Directory = CrashCopy(options) }))
            {
                Assert.Equal(3, await CountFoundAsync(crashed, [.. ids, .. more]));
            }

            more.AddRange(WriteChunks(store, 1, firstSeed: 20));
        }

        Assert.NotEqual(committed, CommitRecords(options.Directory));
        using (var store = ContentStore.Open(options))
        {
            Assert.Equal(4, await CountFoundAsync(store, [.. ids, .. more]));
        }
    }

    // Each table's commit records, with their contents: a commit rewrites one of them.
    private static string CommitRecords(string directory) => string.Join(
        ";",
        Directory.EnumerateFiles(directory, "commit.record.*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(path => path + "=" + Convert.ToHexString(File.ReadAllBytes(path))));

    private static List<ChunkId> WriteChunks(ContentStore store, int count, int firstSeed)
    {
        var ids = new List<ChunkId>(count);
        for (int i = 0; i < count; i++)
        {
            var data = TestData.Random(Chunk, firstSeed + i);
            var id = ChunkId.Compute(data);
            Assert.True(store.WriteChunk(id, data));
            ids.Add(id);
        }

        return ids;
    }

    private static async Task<int> CountFoundAsync(ContentStore store, IEnumerable<ChunkId> ids)
    {
        var buffer = new byte[Chunk];
        int found = 0;
        foreach (var id in ids)
        {
            if ((await store.ReadChunkAsync(id, buffer, TestContext.Current.CancellationToken)).Status == ChunkReadStatus.Found)
            {
                found++;
            }
        }

        return found;
    }

    /// <summary>Polls <paramref name="condition"/> every 20 ms for at most <see cref="WaitLimit"/>.</summary>
    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        return true;
    }

    /// <summary>The store's files as a crash now would leave them: copied while it is open, never closed.</summary>
    private string CrashCopy(ContentStoreOptions options)
    {
        string copy = _dir.Sub($"crashed-{Guid.NewGuid():N}");
        foreach (string file in Directory.EnumerateFiles(options.Directory, "*", SearchOption.AllDirectories))
        {
            if (Path.GetFileName(file) == "lock")
            {
                continue;
            }

            string target = Path.Combine(copy, Path.GetRelativePath(options.Directory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return copy;
    }

    [Fact]
    public async Task CacheStore_CheckpointsByTime_SoACrashAfterTheIntervalKeepsWhatItCached()
    {
        var options = Options(StoreMode.Cache, TimeSpan.FromMilliseconds(200), bytes: 0);
        await using var store = ContentStore.Open(options);
        var manifestChunks = WriteChunks(store, 40, 0);
        var manifest = new Manifest(new ChunkLayout(40L * Chunk, Chunk), manifestChunks);
        store.WriteManifest(manifest);
        await store.BindIfNewerAsync("cached", new Binding(manifest.Id, 3, true), TestContext.Current.CancellationToken);

        Assert.True(await EventuallyAsync(() => store.BackgroundCheckpoints >= 1 && store.UncommittedBytes == 0), $"no background checkpoint within {WaitLimit}: {store.BackgroundCheckpoints} taken, {store.UncommittedBytes} bytes uncommitted");
        Assert.NotNull(store.LastCommit);

        await using var reopened = ContentStore.Open(options with { Directory = CrashCopy(options) });
        Assert.Equal(40, await CountFoundAsync(reopened, manifestChunks));
        Assert.Equal(new Binding(manifest.Id, 3, true), await reopened.ResolveAsync("cached", TestContext.Current.CancellationToken));
        Assert.Equal(manifest.Id, (await reopened.ReadManifestAsync(manifest.Id, TestContext.Current.CancellationToken))?.Id);
    }

    [Fact]
    public async Task CacheStore_CheckpointsByBytesWritten_WithoutAnInterval()
    {
        const long Threshold = 1L << 20;
        var options = Options(StoreMode.Cache, TimeSpan.Zero, Threshold);
        await using var store = ContentStore.Open(options);
        var ids = WriteChunks(store, 64, 100); // 4 MiB: four thresholds

        // Once the writes stop, what is left uncommitted is less than one threshold: every crossing
        // woke a checkpoint, and one that crossed while a checkpoint ran woke the next.
        Assert.True(await EventuallyAsync(() => store.BackgroundCheckpoints >= 1 && store.UncommittedBytes < Threshold), $"{store.BackgroundCheckpoints} background checkpoints, {store.UncommittedBytes} bytes uncommitted");

        await using var reopened = ContentStore.Open(options with { Directory = CrashCopy(options) });
        int kept = await CountFoundAsync(reopened, ids);
        Assert.True(kept >= ids.Count - (int)(Threshold / Chunk) - 1, $"only {kept} of {ids.Count} chunks survived the crash");
    }

    [Fact]
    public async Task CacheStore_WithoutWrites_TakesNoCheckpoints()
    {
        await using var store = ContentStore.Open(Options(StoreMode.Cache, TimeSpan.FromMilliseconds(50), bytes: 1));
        await Task.Delay(400, TestContext.Current.CancellationToken);
        Assert.Equal(0, store.BackgroundCheckpoints);

        // One write, one checkpoint: a checkpoint itself writes nothing that would call for another.
        WriteChunks(store, 1, 7);
        Assert.True(await EventuallyAsync(() => store.BackgroundCheckpoints >= 1 && store.UncommittedBytes == 0));
        long taken = store.BackgroundCheckpoints;
        await Task.Delay(400, TestContext.Current.CancellationToken);
        Assert.Equal(taken, store.BackgroundCheckpoints);
    }

    [Fact]
    public async Task PinnedStore_TakesNoBackgroundCheckpoints_ItCommitsEveryPutItself()
    {
        await using var store = ContentStore.Open(Options(StoreMode.Pinned, TimeSpan.FromMilliseconds(50), bytes: Chunk));
        WriteChunks(store, 8, 200);
        await Task.Delay(400, TestContext.Current.CancellationToken);
        Assert.Equal(0, store.BackgroundCheckpoints);
        Assert.InRange(store.UncommittedBytes, 8L * Chunk, 9L * Chunk); // the chunks and their record headers

        await store.CommitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, store.UncommittedBytes);
    }

    [Fact]
    public async Task CacheStore_ClosedWhileCheckpointing_ClosesAndReopensWithEverything()
    {
        var options = Options(StoreMode.Cache, TimeSpan.FromMilliseconds(1), bytes: Chunk);
        List<ChunkId> ids;
        await using (var store = ContentStore.Open(options))
        {
            ids = WriteChunks(store, 48, 300);
        }

        await using var reopened = ContentStore.Open(options);
        Assert.Equal(ids.Count, await CountFoundAsync(reopened, ids));
    }

    [Theory]
    [InlineData(-1L, 0L)]
    [InlineData(0L, -1L)]
    [InlineData(8L * 24 * 3600 * 1000, 0L)]
    public void Validate_RefusesANegativeOrHugeCheckpointSetting(long intervalMs, long bytes)
    {
        var options = Options(StoreMode.Cache, TimeSpan.FromMilliseconds(intervalMs), bytes);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());
    }
}
