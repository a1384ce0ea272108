using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// The journal of a pinned store: small Puts and Deletes are durable once their record is on disk
/// (no commit), a copy of the files taken at that moment (what a kill leaves) reopens with them,
/// a record cut short at the end is ignored, a damaged one followed by others refuses the store.
/// </summary>
public sealed class JournalTests : IDisposable
{
    private const int Chunk = ChunkLayout.MinChunkSize;
    private readonly TempDirectory _dir = new("omnistore-journal");

    public void Dispose() => _dir.Dispose();

    private string Live => _dir.Sub("live");

    private string Crashed => _dir.Sub("crashed");

    private static EmbeddedNode Open(string directory, long journalLimit = ContentStoreOptions.DefaultJournalLimit) =>
        new(ContentStore.Open(new ContentStoreOptions { Directory = directory, MaxChunkSize = Chunk, ReclaimFraction = 0, CheckpointInterval = TimeSpan.FromDays(1), JournalLimit = journalLimit }));

    private static string[] JournalFiles(string directory) => [.. Directory.GetFiles(directory, WriteJournal.FilePrefix + "*").Select(Path.GetFileName)!];

    [Fact]
    public async Task SmallPutsAndADelete_AreDurableByTheJournalAlone_AndAKilledStoreReopensWithThem()
    {
        var ct = TestContext.Current.CancellationToken;
        var small = TestData.Random((2 * Chunk) + 17, 1);
        var again = TestData.Random(4096, 2);
        await using (var node = Open(Live))
        {
            await node.PutAsync("gone", TestData.Random(100, 3), Chunk, null, ct);
            long commits = node.Store.LastCommit!.Value.Ticks;
            await node.PutAsync("small", small, Chunk, null, ct);
            await node.PutAsync("again", TestData.Random(4096, 4), Chunk, null, ct);
            await node.PutAsync("again", again, Chunk, null, ct);
            Assert.True(await node.DeleteAsync("gone", ct));
            Assert.Equal(5, node.Store.JournaledWrites);
            Assert.Equal(commits, node.Store.LastCommit!.Value.Ticks); // no commit: the journal made them durable
            StoreCopy.AsAKillLeavesIt(Live, Crashed);
        }

        Assert.Empty(JournalFiles(Live)); // closed cleanly: committed, the journal gone
        await using var reopened = Open(Crashed);
        Assert.Equal(small, await reopened.GetAsync("small", ct));
        Assert.Equal(again, await reopened.GetAsync("again", ct));
        Assert.Equal(2, (await reopened.Store.ResolveAsync("again", ct))!.Value.Version);
        Assert.False((await reopened.Store.ResolveAsync("gone", ct))!.Value.IsBound);
        Assert.Equal(0, reopened.Store.VerifyAllChunks().Dropped);
        Assert.Single(JournalFiles(Crashed)); // replayed, committed: only the new, empty file
    }

    [Fact]
    public async Task AnObjectLargerThanTheLimit_IsCommitted_NotJournaled()
    {
        var ct = TestContext.Current.CancellationToken;
        var large = TestData.Random((4 * Chunk) + 1, 5);
        await using (var node = Open(Live, journalLimit: 4 * Chunk))
        {
            await node.PutAsync("large", large, Chunk, null, ct);
            Assert.Equal(0, node.Store.JournaledWrites);
            StoreCopy.AsAKillLeavesIt(Live, Crashed);
        }

        await using var reopened = Open(Crashed);
        Assert.Equal(large, await reopened.GetAsync("large", ct));
    }

    [Fact]
    public async Task TheJournalTurnedOff_CommitsEveryWrite()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = Open(Live, journalLimit: 0);
        await node.PutAsync("small", TestData.Random(10, 6), Chunk, null, ct);
        Assert.Equal(0, node.Store.JournaledWrites);
    }

    [Fact]
    public async Task ManyConcurrentSmallPuts_ShareTheirSyncs()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = Open(Live);
        await Task.WhenAll(Enumerable.Range(0, 64).Select(i => node.PutAsync($"o/{i}", TestData.Random(4096, 100 + i), Chunk, null, ct).AsTask()));
        Assert.Equal(64, node.Store.JournaledWrites);
        Assert.True(node.Store.JournalSyncs < 64, $"{node.Store.JournalSyncs} fdatasync calls for 64 concurrent Puts: no group commit");
    }

    [Fact]
    public async Task CodeThatGoesOnAfterAnAwaitedPut_MayPutSynchronously()
    {
        // The continuation after an awaited Put (ConfigureAwait(false): it runs wherever the Put
        // completed) does a blocking Put: it must not run on the thread that syncs the journal,
        // or that thread waits for itself.
        var ct = TestContext.Current.CancellationToken;
        await using var node = Open(Live);
        var run = Task.Run(
            async () =>
            {
                for (int i = 0; i < 20; i++)
                {
                    await node.PutAsync($"async/{i}", TestData.Random(100, i), Chunk, null, ct).ConfigureAwait(false);
                    node.Put($"sync/{i}", TestData.Random(100, 1000 + i), Chunk, null);
                }
            },
            ct);
        await run.WaitAsync(TimeSpan.FromSeconds(30), ct);
        Assert.Equal(40, node.Store.JournaledWrites);
    }

    [Fact]
    public async Task ARecordCutShortAtTheEnd_IsIgnored_TheOnesBeforeItReplayed()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(1000, 7);
        await using (var node = Open(Live))
        {
            await node.PutAsync("kept", data, Chunk, null, ct);
            StoreCopy.AsAKillLeavesIt(Live, Crashed);
        }

        string journal = Path.Combine(Crashed, JournalFiles(Crashed).Single());
        var bytes = File.ReadAllBytes(journal);
        File.WriteAllBytes(journal, [.. bytes, .. bytes.AsSpan(0, bytes.Length / 2)]); // a second record, half written

        await using var reopened = Open(Crashed);
        Assert.Equal(data, await reopened.GetAsync("kept", ct));
    }

    [Fact]
    public async Task ADamagedRecordFollowedByAnother_RefusesTheStore_NamingTheFile()
    {
        var ct = TestContext.Current.CancellationToken;
        await using (var node = Open(Live))
        {
            await node.PutAsync("first", TestData.Random(1000, 8), Chunk, null, ct);
            await node.PutAsync("second", TestData.Random(1000, 9), Chunk, null, ct);
            StoreCopy.AsAKillLeavesIt(Live, Crashed);
        }

        string name = JournalFiles(Crashed).Single();
        string journal = Path.Combine(Crashed, name);
        var bytes = File.ReadAllBytes(journal);
        bytes[WriteJournal.HeaderSize + 40] ^= 0x01; // inside the first record's payload
        File.WriteAllBytes(journal, bytes);

        var ex = Assert.Throws<OmniStoreException>(() => Open(Crashed));
        Assert.Equal(OmniStoreError.Corrupt, ex.Error);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Records_RoundTrip_AndADamagedOrCutPayload_IsCorruptNeverAnotherError()
    {
        var data = TestData.Random((2 * Chunk) + 5, 10);
        var manifest = TestManifests.Of(data, Chunk);
        var chunks = Enumerable.Range(0, manifest.Chunks.Count).Select(i => (ReadOnlyMemory<byte>)TestManifests.Chunk(manifest, data, i).ToArray()).ToList();
        var record = new JournalRecord("dir/name", new Binding(manifest.Id, 7, IsBound: true), manifest, chunks);
        var payload = record.Encode();

        var decoded = JournalRecord.Decode(payload, Chunk);
        Assert.Equal("dir/name", decoded.Name);
        Assert.Equal(record.Binding, decoded.Binding);
        Assert.Equal(manifest.Id, decoded.Manifest!.Id);
        Assert.Equal(data, decoded.Chunks.SelectMany(c => c.ToArray()).ToArray());

        var tombstone = new JournalRecord("gone", new Binding(default, 3, IsBound: false), null, []);
        Assert.Equal(tombstone.Binding, JournalRecord.Decode(tombstone.Encode(), Chunk).Binding);

        var random = new Random(11);
        for (int i = 0; i < 2000; i++)
        {
            var damaged = payload.ToArray();
            if (i % 3 == 0)
            {
                damaged = damaged[..random.Next(damaged.Length)];
            }
            else
            {
                int at = i % 2 == 0 ? random.Next(Math.Min(200, damaged.Length)) : random.Next(damaged.Length);
                damaged[at] ^= (byte)(1 << random.Next(8));
            }

            // The file's checksum catches damage; decoding only never trusts a length, so a payload
            // cut short is always refused, and a damaged one decodes (a field it cannot check) or is refused.
            try
            {
                _ = JournalRecord.Decode(damaged, Chunk);
                Assert.True(i % 3 != 0, $"a payload cut to {damaged.Length} of {payload.Length} bytes decoded");
            }
            catch (OmniStoreException ex)
            {
                Assert.Equal(OmniStoreError.Corrupt, ex.Error);
            }
        }

        // A length announced larger than what follows is refused before anything is allocated from it.
        var huge = payload.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(huge.AsSpan(3 + "dir/name".Length + Binding.EncodedSize), int.MaxValue);
        Assert.Equal(OmniStoreError.Corrupt, Assert.Throws<OmniStoreException>(() => JournalRecord.Decode(huge, Chunk)).Error);
    }
}
