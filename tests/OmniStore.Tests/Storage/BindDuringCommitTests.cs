using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// A commit checkpoints the chunk table, then the catalog. A binding written between the two (its
/// chunks written after the chunk table's checkpoint began) must not be in the catalog's: a crash
/// would recover the name bound to chunks that were never made durable. Found by
/// <see cref="CrashRecoveryTests"/>: an in-flight Put's object came back bound and missing a chunk.
/// </summary>
public sealed class BindDuringCommitTests : IDisposable
{
    private const int Chunk = ChunkLayout.MinChunkSize;
    private readonly TempDirectory _dir = new("omnistore-bind-commit");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task APutBindingWhileACommitRuns_IsEitherWholeOrUnboundAfterACrash()
    {
        var ct = TestContext.Current.CancellationToken;
        string live = _dir.Sub("live"), crashed = _dir.Sub("crashed");
        var data = TestData.Random((3 * Chunk) + 100, 31);
        var options = new ContentStoreOptions { Directory = live, MaxChunkSize = Chunk, ReclaimFraction = 0, CheckpointInterval = TimeSpan.FromDays(1) };
        await using (var store = ContentStore.Open(options))
        {
            Task? put = null;
            store.BetweenCheckpoints = () =>
            {
                // A Put that writes its chunks now, after the chunk table's checkpoint, and binds:
                // given every chance to bind before the catalog's checkpoint starts.
                store.BetweenCheckpoints = null;
                put = Task.Run(() => PutAsync(store, "late", data, ct), ct);
                put.Wait(TimeSpan.FromMilliseconds(300), ct);
            };

            await store.CommitAsync(ct);
            Assert.NotNull(put);

            // What a kill right now leaves on the disk: the files as they are.
            StoreCopy.AsAKillLeavesIt(live, crashed);
            await put.WaitAsync(TimeSpan.FromSeconds(30), ct);
        }

        await using var client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = crashed, ChunkSize = Chunk });
        if (await client.StatAsync("late", ct) is not null)
        {
            Assert.Equal(data, await client.GetAsync("late", ct));
        }
    }

    private static async Task PutAsync(ContentStore store, string name, byte[] data, CancellationToken ct)
    {
        var manifest = TestManifests.Of(data, Chunk);
        for (int i = 0; i < manifest.Chunks.Count; i++)
        {
            store.WriteChunk(manifest.Chunks[i], TestManifests.Chunk(manifest, data, i));
        }

        store.WriteManifest(manifest);
        await store.BindAsync(name, manifest.Id, ct);
    }
}
