using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// Many writers storing the same bytes at once (workers publishing identical results, or retries
/// that overlap): every write of a chunk, a manifest or a binding lands on a key another writer is
/// writing at the same moment. The store must commit, keep committing, and reopen.
/// </summary>
public sealed class ConcurrentSameContentTests : IDisposable
{
    private const int Chunk = ChunkLayout.MinChunkSize;
    private readonly TempDirectory _dir = new("omnistore-same");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Writers_of_identical_objects_at_once_leave_a_store_that_commits_and_reopens()
    {
        var ct = TestContext.Current.CancellationToken;
        for (int round = 0; round < 12; round++)
        {
            string directory = Path.Combine(_dir.Path, $"round{round}");
            var data = TestData.Random(4096, round);
            var id = ChunkId.Compute(data);
            var manifest = new Manifest(new ChunkLayout(data.Length, Chunk), [id]);
            using (var store = ContentStore.Open(new ContentStoreOptions { Directory = directory, Mode = StoreMode.Pinned, MaxChunkSize = Chunk }))
            {
                using var start = new Barrier(8);
                var writers = Enumerable.Range(0, 8).Select(w => Task.Run(
                    async () =>
                    {
                        start.SignalAndWait(ct);
                        store.WriteChunk(id, data);
                        store.WriteManifest(manifest);
                        await store.BindAsync($"result/{w % 2}", manifest.Id, ct);
                        await store.CommitAsync(ct);
                    },
                    ct)).ToArray();
                await Task.WhenAll(writers);

                // Later writes commit too: a bad record in the log would fail every commit from now on.
                var other = TestData.Random(4096, 1000 + round);
                var otherId = ChunkId.Compute(other);
                var otherManifest = new Manifest(new ChunkLayout(other.Length, Chunk), [otherId]);
                store.WriteChunk(otherId, other);
                store.WriteManifest(otherManifest);
                await store.BindAsync("later", otherManifest.Id, ct);
                await store.CommitAsync(ct);
            }

            using var reopened = ContentStore.Open(new ContentStoreOptions { Directory = directory, Mode = StoreMode.Pinned, MaxChunkSize = Chunk });
            var names = string.Join(", ", reopened.ListBindings().Select(b => $"{b.Name}={b.Binding.ManifestId}/{b.Binding.Version}"));
            Assert.True(manifest.Id == (await reopened.ResolveAsync("result/0", ct))?.ManifestId, $"round {round}: result/0 lost; bindings after reopening: {names}");
            Assert.Equal(manifest.Id, (await reopened.ResolveAsync("result/1", ct))?.ManifestId);
            Assert.NotNull(await reopened.ResolveAsync("later", ct));
            Assert.NotNull(await reopened.ReadManifestAsync(manifest.Id, ct));
        }
    }
}

/// <summary>The log walker that checks and digests a table's records, over a log written by hand.</summary>
public sealed class LogFileReaderInvalidRecordTests : IDisposable
{
    private const int PageBits = 16;
    private readonly TempDirectory _dir = new("omnistore-walk");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void An_allocation_FASTER_abandoned_is_reported_as_damage()
    {
        // FASTER 2.6.5's own recovery reads the stash's size as a key length and loses the rest of
        // the page, so a store holding one is reported damaged rather than opened with records
        // missing; writers of one key take turns so that none arises from a race for a key.
        var log = new byte[1 << PageBits];
        int at = WriteRecord(log, 64, key: 0x11, valueLength: 40);
        BitConverter.TryWriteBytes(log.AsSpan(at), 1L);
        BitConverter.TryWriteBytes(log.AsSpan(at + 8), 72);
        log.AsSpan(at + 12, 60).Fill(0x7b);
        int end = WriteRecord(log, at + 72, key: 0x22, valueLength: 8);
        File.WriteAllBytes(Path.Combine(_dir.Path, "log.0"), log);

        using var reader = new LogFileReader(Path.Combine(_dir.Path, "log"), "test/log", PageBits, PageBits);
        var error = Assert.Throws<OmniStoreException>(() => reader.Digest(64, end, new RecordLimits(16, 16, 1024)));
        Assert.Contains("malformed record header", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_whole_record_FASTER_invalidated_is_read_as_a_record_not_as_a_stash()
    {
        var log = new byte[1 << PageBits];
        int at = WriteRecord(log, 64, key: 0x11, valueLength: 40);
        int invalidated = at;
        at = WriteRecord(log, at, key: 0x22, valueLength: 100);
        // Valid bit cleared: its first key word is the key's length, 16, a length the table allows.
        BitConverter.TryWriteBytes(log.AsSpan(invalidated), 1L);
        int end = WriteRecord(log, at, key: 0x33, valueLength: 8);
        File.WriteAllBytes(Path.Combine(_dir.Path, "log.0"), log);

        using var reader = new LogFileReader(Path.Combine(_dir.Path, "log"), "test/log", PageBits, PageBits);
        var digests = reader.Digest(64, end, new RecordLimits(16, 16, 1024));

        Assert.Equal(3, digests.Values.Sum(d => d.Records));
    }

    [Fact]
    public void An_invalid_record_whose_size_runs_off_its_page_is_still_damage()
    {
        var log = new byte[1 << PageBits];
        int at = WriteRecord(log, 64, key: 0x11, valueLength: 40);
        BitConverter.TryWriteBytes(log.AsSpan(at), 1L);
        BitConverter.TryWriteBytes(log.AsSpan(at + 8), 1 << 20);
        File.WriteAllBytes(Path.Combine(_dir.Path, "log.0"), log);

        using var reader = new LogFileReader(Path.Combine(_dir.Path, "log"), "test/log", PageBits, PageBits);
        var error = Assert.Throws<OmniStoreException>(() => reader.Digest(64, at + 64, new RecordLimits(16, 16, 1024)));
        Assert.Contains("malformed record header", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A valid record: header (valid bit, previous address 1), a 16-byte key, a value; returns where the next starts.</summary>
    private static int WriteRecord(byte[] log, int at, byte key, int valueLength)
    {
        BitConverter.TryWriteBytes(log.AsSpan(at), (1L << 56) | 1L);
        BitConverter.TryWriteBytes(log.AsSpan(at + 8), 16);
        log.AsSpan(at + 12, 16).Fill(key);
        BitConverter.TryWriteBytes(log.AsSpan(at + 32), valueLength);
        log.AsSpan(at + 36, valueLength).Fill((byte)(key + 1));
        return at + 32 + ((4 + valueLength + 7) & ~7);
    }
}
