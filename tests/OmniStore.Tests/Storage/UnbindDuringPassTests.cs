using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// A name unbound or rebound while a reclamation pass reads the catalog: until a catalog checkpoint
/// holds the change, a crash recovers the name bound as it was, so the pass must keep what the old
/// binding reaches. (A pass that took its list of such unbindings before reading the catalog, and
/// then read the new binding, dropped the old object's chunks; a kill after the next data
/// checkpoint and before the catalog's recovered the name bound to chunks that were gone.)
/// </summary>
public sealed class UnbindDuringPassTests : IDisposable
{
    private const int Chunk = ChunkLayout.MinChunkSize;
    private readonly TempDirectory _dir = new("omnistore-unbind-pass");

    public void Dispose() => _dir.Dispose();

    private EmbeddedNode Open() =>
        new(ContentStore.Open(new ContentStoreOptions { Directory = _dir.Path, MaxChunkSize = Chunk, ReclaimFraction = 0 }));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ANameChangedJustBeforeThePassReadsTheCatalog_KeepsItsOldChunksUntilTheChangeIsCommitted(bool rebind)
    {
        var ct = TestContext.Current.CancellationToken;
        var old = TestData.Random(4 * Chunk, 21);
        await using var node = Open();
        var store = node.Store;
        await node.PutAsync("name", old, Chunk, null, ct);

        // Garbage for the pass, and enough after the object that its chunks are below the tail's page.
        await node.PutAsync("filler", TestData.Random(3 << 20, 22), Chunk, null, ct);
        Assert.True(await node.DeleteAsync("filler", ct));
        await node.PutAsync("later", TestData.Random(3 << 20, 23), Chunk, null, ct);
        var manifest = (await store.ReadManifestAsync((await store.ResolveAsync("name", ct))!.Value.ManifestId, ct))!;

        // The change lands after the pass started and before it reads the bindings; it is not committed.
        var replacement = TestData.Random(2 * Chunk, 24);
        store.BeforeLiveScan = () =>
        {
            store.BeforeLiveScan = null;
            if (rebind)
            {
                var other = TestManifests.Of(replacement, Chunk);
                for (int i = 0; i < other.Chunks.Count; i++)
                {
                    store.WriteChunk(other.Chunks[i], TestManifests.Chunk(other, replacement, i));
                }

                store.WriteManifest(other);
                store.BindAsync("name", other.Id, ct).AsTask().GetAwaiter().GetResult();
            }
            else
            {
                Assert.True(store.UnbindAsync("name", ct).AsTask().GetAwaiter().GetResult());
            }
        };

        store.Reclaim(0);
        Assert.Null(store.BeforeLiveScan); // the pass did read the catalog

        foreach (var id in manifest.Chunks)
        {
            Assert.True(await store.ContainsChunkAsync(id, ct), $"chunk {id} of the object the last catalog checkpoint binds 'name' to was dropped before the change was committed");
        }

        Assert.NotNull(await store.ReadManifestAsync(manifest.Id, ct));

        // Once the change is committed, the next pass may drop them.
        await store.CommitAsync(ct);
        await store.CommitAsync(ct);
        store.Reclaim(0);
        Assert.False(await store.ContainsChunkAsync(manifest.Chunks[0], ct));
    }
}
