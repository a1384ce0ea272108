using System.Text;
using System.Text.Json.Nodes;
using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// Damages a closed store the way a failing disk, a careless operator or an attacker with access to
/// the files would, and checks that opening it is refused with one <see cref="OmniStoreError.Corrupt"/>
/// line naming the damaged part, instead of crashing the process inside FASTER's recovery or
/// starting with less data than the last commit held.
/// </summary>
public sealed class DamagedStoreTests : IDisposable
{
    // 64 KiB chunks give 1 MiB chunk-log pages, so a few dozen objects span several pages.
    private const int Chunk = ChunkLayout.MinChunkSize;
    private const int ChunksPerObject = 3;

    // Open takes a full checkpoint, then one commit per object: the 32nd commit after it checkpoints
    // the index again, so with 40 objects most of them are below the index checkpoint (found through
    // the saved hash index, never replayed) and the last ones are replayed from the log at recovery.
    private const int Objects = 40;

    private readonly TempDirectory _dir = new("omnistore-damaged");

    public void Dispose() => _dir.Dispose();

    private ContentStoreOptions Options(StoreMode mode = StoreMode.Pinned) => new()
    {
        Directory = _dir.Path,
        Mode = mode,
        Capacity = mode == StoreMode.Cache ? 16L << 20 : 0,
        MaxChunkSize = Chunk,
    };

    private string PathOf(string relative) => Path.Combine(_dir.Path, relative);

    private static string ObjectName(int i) => $"object-{i:D3}";

    /// <summary>Writes <see cref="Objects"/> objects, each committed as a Put commits it, and closes the store.</summary>
    private async Task<List<Manifest>> WriteStoreAsync(StoreMode mode = StoreMode.Pinned, int objects = Objects)
    {
        await using var store = ContentStore.Open(Options(mode));
        return await WriteObjectsAsync(store, 0, objects);
    }

    /// <summary>Writes objects <paramref name="first"/>.. (three chunks, a manifest, a binding), committing after each.</summary>
    private static async Task<List<Manifest>> WriteObjectsAsync(ContentStore store, int first, int count)
    {
        var ct = TestContext.Current.CancellationToken;
        var manifests = new List<Manifest>();
        for (int i = first; i < first + count; i++)
        {
            var chunks = new List<ChunkId>();
            for (int c = 0; c < ChunksPerObject; c++)
            {
                var data = TestData.Random(Chunk, (i * ChunksPerObject) + c);
                var id = ChunkId.Compute(data);
                store.WriteChunk(id, data);
                chunks.Add(id);
            }

            var manifest = new Manifest(new ChunkLayout((long)chunks.Count * Chunk, Chunk), chunks);
            store.WriteManifest(manifest);
            await store.BindAsync(ObjectName(i), manifest.Id, ct);
            await store.CommitAsync(ct);
            manifests.Add(manifest);
        }

        return manifests;
    }

    /// <summary>Turns the closed store into one written before commit records: format 1, no records.</summary>
    private void MakeFirstFormat()
    {
        foreach (string record in Directory.GetFiles(PathOf("data"), "commit.record.*").Concat(Directory.GetFiles(PathOf("catalog"), "commit.record.*")))
        {
            File.Delete(record);
        }

        File.WriteAllText(PathOf("store.json"), """{"format":1,"dataPageSizeBits":20}""");
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            if (Path.GetFileName(file) == "lock")
            {
                continue;
            }

            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }

    /// <summary>Every object written by <see cref="WriteStoreAsync"/> resolves, and its manifest and chunks read back.</summary>
    private static async Task AssertHoldsEverythingAsync(ContentStore store, List<Manifest> manifests)
    {
        var ct = TestContext.Current.CancellationToken;
        var buffer = new byte[Chunk];
        for (int i = 0; i < manifests.Count; i++)
        {
            var binding = await store.ResolveAsync(ObjectName(i), ct);
            Assert.True(binding is { IsBound: true }, $"{ObjectName(i)} is not bound");
            Assert.Equal(manifests[i].Id, binding!.Value.ManifestId);
            var manifest = await store.ReadManifestAsync(manifests[i].Id, ct);
            Assert.NotNull(manifest);
            foreach (var chunk in manifest!.Chunks)
            {
                Assert.Equal(ChunkReadStatus.Found, (await store.ReadChunkAsync(chunk, buffer, ct)).Status);
            }
        }
    }

    /// <summary>Opening is refused with one Corrupt line that names <paramref name="damaged"/> and what can be done.</summary>
    private OmniStoreException AssertRefused(string damaged, StoreMode mode = StoreMode.Pinned)
    {
        var ex = Assert.Throws<OmniStoreException>(() =>
        {
            using var store = ContentStore.Open(Options(mode));
        });
        TestContext.Current.TestOutputHelper?.WriteLine(ex.Message);
        Assert.Equal(OmniStoreError.Corrupt, ex.Error);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.Contains(damaged, ex.Message.Replace('\\', '/'), StringComparison.Ordinal);
        Assert.Contains(mode == StoreMode.Cache ? "refills from its parent" : "restore", ex.Message, StringComparison.Ordinal);
        return ex;
    }

    private static void Overwrite(string path, long offset, ReadOnlySpan<byte> bytes)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        file.Write(bytes);
    }

    private static void FlipBit(string path, long offset, int bit)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        int value = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(value ^ (1 << bit)));
    }

    private static void Truncate(string path, long length)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.SetLength(length);
    }

    /// <summary>Where <paramref name="text"/> (ASCII) first occurs in a file, or -1.</summary>
    private static long Find(string path, string text) => Find(path, Encoding.ASCII.GetBytes(text));

    private static long Find(string path, ReadOnlySpan<byte> needle) => File.ReadAllBytes(path).AsSpan().IndexOf(needle);

    private string OnlyDirectory(string relative) => Assert.Single(Directory.GetDirectories(PathOf(relative)));

    // ---- no false alarms ----

    [Theory]
    [InlineData("data")]
    [InlineData("catalog")]
    public async Task RecordCutShortPastTheLastCommit_IsIgnored_NotACrash(string table)
    {
        // What a kill during a flush after the last commit can leave: right behind the log's end as
        // of that commit, in the same 4 KiB sector, the start of a later record, cut short. FASTER
        // reads the whole sector at recovery and walks every record header on the page, this one
        // too: a key length running out of the page crashed it with an access violation.
        var manifests = await WriteStoreAsync();
        long final = LastCommittedLogEnd(table);
        Assert.NotEqual(0, final % 4096);
        Overwrite(PathOf($"{table}/log.0"), final, [0x01, 0, 0, 0, 0, 0, 0, 0, 0xF0, 0xFF, 0xFF, 0x3F]);

        await using (var store = ContentStore.Open(Options()))
        {
            await AssertHoldsEverythingAsync(store, manifests);
            manifests.AddRange(await WriteObjectsAsync(store, manifests.Count, 2));
        }

        await using var reopened = ContentStore.Open(Options());
        await AssertHoldsEverythingAsync(reopened, manifests);
    }

    /// <summary>The log's end as of the table's last commit (its checkpoint's final address).</summary>
    private long LastCommittedLogEnd(string table)
    {
        string checkpoints = PathOf($"{table}/checkpoints");
        var token = Assert.Single(FasterCheckpointFiles.ListTokens(checkpoints, FasterCheckpointFiles.LogCheckpoints));
        var metadata = FasterCheckpointFiles.ReadMetadataFile(checkpoints, FasterCheckpointFiles.LogCheckpoints, token);
        Assert.True(FasterCheckpointFiles.TryParseLog(metadata, token, out var log, out string problem), problem);
        return log.FinalAddress;
    }

    [Fact]
    public async Task UndamagedStore_ReopensWithEverything_ManyTimes()
    {
        var manifests = await WriteStoreAsync();
        for (int i = 0; i < 3; i++)
        {
            await using var store = ContentStore.Open(Options());
            await AssertHoldsEverythingAsync(store, manifests);
        }
    }

    [Fact]
    public async Task CacheAfterEvictionPasses_ReopensWithWhatItKept()
    {
        var ct = TestContext.Current.CancellationToken;
        List<(string Name, ManifestId Manifest)> kept;
        await using (var store = ContentStore.Open(Options(StoreMode.Cache)))
        {
            // Six times the capacity: passes evict and compact both logs, and truncate their segments.
            for (int i = 0; i < 1600; i++)
            {
                var data = TestData.Random(Chunk, 100_000 + i);
                var id = ChunkId.Compute(data);
                store.WriteChunk(id, data);
                var manifest = new Manifest(new ChunkLayout(Chunk, Chunk), [id]);
                store.WriteManifest(manifest);
                await store.BindIfNewerAsync(ObjectName(i), new Binding(manifest.Id, 1, true), ct);
                if (i % 50 == 0)
                {
                    await store.CommitAsync(ct);
                }
            }

            Assert.True(store.EvictedBytes > 0);
            kept = store.ListBindings().Where(b => b.Binding.IsBound).Select(b => (b.Name, b.Binding.ManifestId)).ToList();
            Assert.NotEmpty(kept);
        }

        await using var reopened = ContentStore.Open(Options(StoreMode.Cache));
        foreach (var (name, manifestId) in kept)
        {
            Assert.Equal(manifestId, (await reopened.ResolveAsync(name, ct))!.Value.ManifestId);
        }

        Assert.Equal(0, reopened.VerifyAllChunks().Dropped);
    }

    [Fact]
    public async Task ReopenedWithAnotherCapacity_HoldsEverything()
    {
        // The log's segment size follows the capacity chosen at creation (an eighth of it): with
        // 16 MiB the segments are 2 MiB, so 40 objects of 192 KiB span four of them. Reopened with
        // 1 GiB, the store must keep reading them with the size they were written with.
        var manifests = await WriteStoreAsync(StoreMode.Cache);
        Assert.True(File.Exists(PathOf("data/log.3")), "the objects should span several segments");
        await using var store = ContentStore.Open(Options(StoreMode.Cache) with { Capacity = 1L << 30 });
        await AssertHoldsEverythingAsync(store, manifests);
    }

    [Theory]
    [InlineData(30)] // the next commit checkpoints the log only
    [InlineData(31)] // the next commit checkpoints the hash index too
    public async Task ACrashBetweenACheckpointAndItsCommitRecord_LosesNothing(int objectsBefore)
    {
        // The state a crash leaves between FASTER completing a checkpoint and the commit record
        // naming it: the previous record, its checkpoints, and the new checkpoint. Built from copies
        // of the store taken while it is open (everything committed is on disk then).
        string crashed = _dir.Sub("crashed");
        string previous = _dir.Sub("previous");
        List<Manifest> manifests;
        var options = Options() with { Directory = _dir.Sub("store") };
        await using (var store = ContentStore.Open(options))
        {
            manifests = await WriteObjectsAsync(store, 0, objectsBefore);
            CopyDirectory(options.Directory, previous);
            manifests.AddRange(await WriteObjectsAsync(store, objectsBefore, 1));
            CopyDirectory(options.Directory, crashed);
        }

        foreach (string table in new[] { "data", "catalog" })
        {
            foreach (string record in Directory.GetFiles(Path.Combine(previous, table), "commit.record.*"))
            {
                File.Copy(record, Path.Combine(crashed, table, Path.GetFileName(record)), overwrite: true);
            }

            CopyDirectory(Path.Combine(previous, table, "checkpoints"), Path.Combine(crashed, table, "checkpoints"));
            Assert.Equal(2, Directory.GetDirectories(Path.Combine(crashed, table, "checkpoints", "cpr-checkpoints")).Length);
        }

        await using var reopened = ContentStore.Open(options with { Directory = crashed });
        await AssertHoldsEverythingAsync(reopened, manifests);
    }

    [Fact]
    public async Task StoreOfTheFirstFormat_OpensWithEverything_AndIsUpgraded()
    {
        var manifests = await WriteStoreAsync();
        MakeFirstFormat();
        await using (var store = ContentStore.Open(Options()))
        {
            await AssertHoldsEverythingAsync(store, manifests);
        }

        Assert.Equal(2, JsonNode.Parse(File.ReadAllText(PathOf("store.json")))!["format"]!.GetValue<int>());
        Assert.NotEmpty(Directory.GetFiles(PathOf("data"), "commit.record.*"));
        Assert.NotEmpty(Directory.GetFiles(PathOf("catalog"), "commit.record.*"));
        await using var upgraded = ContentStore.Open(Options());
        await AssertHoldsEverythingAsync(upgraded, manifests);
    }

    [Theory]
    [InlineData("truncated data log", "data/log.0")]
    [InlineData("deleted catalog checkpoints", "catalog/checkpoints")]
    [InlineData("corrupted record header", "catalog/log.0")]
    public async Task StoreOfTheFirstFormat_Damaged_IsRefused(string damage, string named)
    {
        await WriteStoreAsync();
        MakeFirstFormat();
        switch (damage)
        {
            case "truncated data log":
                Truncate(PathOf("data/log.0"), 4096);
                break;
            case "deleted catalog checkpoints":
                Directory.Delete(PathOf("catalog/checkpoints"), recursive: true);
                break;
            default:
                Overwrite(PathOf("catalog/log.0"), Find(PathOf("catalog/log.0"), ObjectName(Objects - 1)) - 13, Enumerable.Repeat((byte)0xFF, 16).ToArray());
                break;
        }

        AssertRefused(named);
    }

    /// <summary>The table's latest commit record: of its two files, the one written last.</summary>
    private string LatestRecord(string table) =>
        Directory.GetFiles(PathOf(table), "commit.record.*").OrderByDescending(File.GetLastWriteTimeUtc).First();

    [Theory]
    [InlineData("data")]
    [InlineData("catalog")]
    public async Task DamagedLatestCommitRecord_IsRefused_NamingIt(string table)
    {
        await WriteStoreAsync();
        string latest = LatestRecord(table);
        Assert.Equal(2, Directory.GetFiles(PathOf(table), "commit.record.*").Length);
        FlipBit(latest, 40, 2);
        AssertRefused($"{table}/{Path.GetFileName(latest)} fails its checksum");
    }

    [Theory]
    [InlineData("data")]
    [InlineData("catalog")]
    public async Task DeletedCommitRecords_AreRefused(string table)
    {
        await WriteStoreAsync();
        File.Delete(LatestRecord(table));
        AssertRefused($"{table}/checkpoints/cpr-checkpoints"); // the older record names a checkpoint since removed
        File.Delete(LatestRecord(table));
        AssertRefused($"{table}/commit.record is missing");
    }

    // ---- the log ----

    [Theory]
    [InlineData("data", 1)]
    [InlineData("catalog", 1)]
    [InlineData("data", Objects)]
    [InlineData("catalog", Objects)]
    public async Task CorruptedRecordHeaderInTheLog_IsRefused_NotACrash(string table, int objects)
    {
        var manifests = await WriteStoreAsync(objects: objects);

        // The header of the last object's record (its last chunk, or its binding): recovery replays
        // the log since the last index checkpoint, trusting every record header it meets. With one
        // object that record is the first of the log, right behind the log's start.
        string log = PathOf($"{table}/log.0");
        long record = table == "data"
            ? Find(log, TestData.Random(Chunk, (objects * ChunksPerObject) - 1).AsSpan(0, 32)) - 36 // header 8, key 4 + 16 + padding, value length 4
            : Find(log, ObjectName(objects - 1)) - 13; // header 8, key length 4, tag 1
        Assert.True(record >= 64, $"record at {record}");
        Assert.Equal(objects, manifests.Count);
        Overwrite(log, record, Enumerable.Repeat((byte)0xFF, 16).ToArray());
        AssertRefused($"{table}/log.0");
    }

    [Theory]
    [InlineData(19)]
    [InlineData(22)]
    public async Task ChangedPageSizeInTheDescriptor_IsRefused_NotACrash(int pageSizeBits)
    {
        await WriteStoreAsync();
        var json = JsonNode.Parse(File.ReadAllText(PathOf("store.json")))!;
        json["dataPageSizeBits"] = pageSizeBits;
        File.WriteAllText(PathOf("store.json"), json.ToJsonString());
        AssertRefused("store.json");
    }

    [Theory]
    [InlineData("data")]
    [InlineData("catalog")]
    public async Task DeletedLogSegment_IsRefused_NotAnEmptyStore(string table)
    {
        await WriteStoreAsync();
        File.Delete(PathOf($"{table}/log.0"));
        AssertRefused($"{table}/log.0");
    }

    [Theory]
    [InlineData("data")]
    [InlineData("catalog")]
    public async Task TruncatedLogSegment_IsRefused_NotAPartialStore(string table)
    {
        await WriteStoreAsync();
        Truncate(PathOf($"{table}/log.0"), 4096);
        AssertRefused($"{table}/log.0");
    }

    // ---- checkpoints ----

    [Theory]
    [InlineData("data")]
    [InlineData("catalog")]
    public async Task DeletedCheckpoints_AreRefused_NotAnEmptyStore(string table)
    {
        await WriteStoreAsync();
        Directory.Delete(PathOf($"{table}/checkpoints"), recursive: true);
        AssertRefused($"{table}/checkpoints");
    }

    [Theory]
    [InlineData("data", "cpr-checkpoints")]
    [InlineData("catalog", "cpr-checkpoints")]
    [InlineData("data", "index-checkpoints")]
    [InlineData("catalog", "index-checkpoints")]
    public async Task DeletedCheckpoint_IsRefused(string table, string kind)
    {
        await WriteStoreAsync();
        Directory.Delete(OnlyDirectory($"{table}/checkpoints/{kind}"), recursive: true);
        AssertRefused($"{table}/checkpoints/{kind}");
    }

    [Theory]
    [InlineData("data", "index-checkpoints", "ht.dat.0")]
    [InlineData("catalog", "index-checkpoints", "ht.dat.0")]
    [InlineData("data", "index-checkpoints", "info.dat.0")]
    [InlineData("catalog", "cpr-checkpoints", "info.dat.0")]
    public async Task TruncatedCheckpointFile_IsRefused_NotAPartialStore(string table, string kind, string file)
    {
        await WriteStoreAsync();
        Truncate(Path.Combine(OnlyDirectory($"{table}/checkpoints/{kind}"), file), 100);
        AssertRefused($"{table}/checkpoints/{kind}");
    }

    [Fact]
    public async Task FlippedBitInTheHashIndex_IsRefused()
    {
        await WriteStoreAsync();
        string ht = Path.Combine(OnlyDirectory("catalog/checkpoints/index-checkpoints"), "ht.dat.0");
        long at = Array.FindIndex(File.ReadAllBytes(ht), b => b != 0);
        Assert.True(at >= 0);
        FlipBit(ht, at, 3);
        AssertRefused("catalog/checkpoints/index-checkpoints");
    }

    // ---- the catalog ----

    [Fact]
    public async Task FlippedBitInANameInTheCatalog_IsRefused_NotNotFound()
    {
        await WriteStoreAsync();
        string log = PathOf("catalog/log.0");
        long at = Find(log, ObjectName(3));
        Assert.True(at > 0);
        FlipBit(log, at + ObjectName(3).Length - 1, 0);
        AssertRefused("catalog/log.0");
    }

    [Fact]
    public async Task FlippedBitInABindingInTheCatalog_IsRefused()
    {
        await WriteStoreAsync();
        string log = PathOf("catalog/log.0");
        // A binding's value follows its key: 4-byte length, then version and manifest id.
        long at = Find(log, ObjectName(5));
        Assert.True(at > 0);
        long keyEnd = at + ObjectName(5).Length;
        long valueAt = ((keyEnd + 7) & ~7L) + 4;
        FlipBit(log, valueAt + 10, 6);
        AssertRefused("catalog/log.0");
    }

    // ---- the descriptor and our own records ----

    [Fact]
    public async Task GarbageDescriptor_IsRefused_WithoutQuotingIt()
    {
        await WriteStoreAsync();
        File.WriteAllText(PathOf("store.json"), "\u001b[31m{not json");
        var ex = AssertRefused("store.json is not a valid store descriptor");
        Assert.DoesNotContain('\u001b', ex.Message);
    }

    [Fact]
    public async Task DeletedDescriptor_IsRefused_NotANewStore()
    {
        await WriteStoreAsync();
        File.Delete(PathOf("store.json"));
        AssertRefused("store.json");
    }

    [Fact]
    public async Task CacheRefusal_SaysTheDirectoryCanBeRemoved()
    {
        await WriteStoreAsync(StoreMode.Cache, objects: 10);
        File.Delete(PathOf("catalog/log.0"));
        var ex = AssertRefused("catalog/log.0", StoreMode.Cache);
        Assert.Contains(_dir.Path, ex.Message, StringComparison.Ordinal);
    }
}
