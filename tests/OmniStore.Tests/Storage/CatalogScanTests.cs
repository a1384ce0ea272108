using OmniStore.Node;
using OmniStore.Storage;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Storage;

/// <summary>
/// What the store reads by scanning its catalog (the bindings, the reachable content, the damage
/// marks) is what a read of each key finds, whatever the catalog's records look like on disk: names
/// bound, replaced and removed across reopenings, with every record out of memory.
/// </summary>
public sealed class CatalogScanTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-catalog-scan");

    public void Dispose() => _dir.Dispose();

    private EmbeddedNode Open() => new(ContentStore.Open(new ContentStoreOptions { Directory = _dir.Path, ReclaimFraction = 0 }));

    [Fact]
    public async Task ListBindings_AfterRemovalsInSeveralProcesses_ListsExactlyTheNamesAsAReadFindsThem()
    {
        var ct = TestContext.Current.CancellationToken;
        var expected = new Dictionary<string, bool>();
        for (int round = 0; round < 4; round++)
        {
            // One process puts, the next removes (as `omnistore put` and `omnistore rm` do): the
            // record a removal supersedes is on disk by then.
            await using (var node = Open())
            {
                for (int i = 0; i < 3; i++)
                {
                    await node.PutAsync($"gone/{round}/{i}", TestData.Random(256 << 10, (round * 10) + i), 64 << 10, null, ct);
                }

                await node.PutAsync($"keep/{round}", TestData.Random(256 << 10, 100 + round), 64 << 10, null, ct);
                expected[$"keep/{round}"] = true;
            }

            await using (var node = Open())
            {
                for (int i = 0; i < 3; i++)
                {
                    Assert.True(await node.DeleteAsync($"gone/{round}/{i}", ct));
                    expected[$"gone/{round}/{i}"] = false;
                }
            }
        }

        await using var reopened = Open();
        var listed = reopened.Store.ListBindings().ToDictionary(b => b.Name, b => b.Binding.IsBound);
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), listed.OrderBy(e => e.Key, StringComparer.Ordinal));
        foreach (var (name, bound) in listed)
        {
            Assert.Equal(bound, (await reopened.Store.ResolveAsync(name, ct))?.IsBound);
        }
    }

    [Fact]
    public async Task CollectGarbage_AfterRemovalsInAnotherProcess_CountsOnlyTheBoundObjectsAsLive()
    {
        var ct = TestContext.Current.CancellationToken;
        var keep = TestData.Random(1 << 20, 1);
        await using (var node = Open())
        {
            await node.PutAsync("keep", keep, 64 << 10, null, ct);
            for (int i = 0; i < 4; i++)
            {
                await node.PutAsync($"gone/{i}", TestData.Random(4 << 20, 10 + i), 64 << 10, null, ct);
            }
        }

        await using (var node = Open())
        {
            for (int i = 0; i < 4; i++)
            {
                Assert.True(await node.DeleteAsync($"gone/{i}", ct));
            }
        }

        await using var reopened = Open();
        var summary = await reopened.Store.CollectGarbageAsync(null, ct);
        Assert.Equal(keep.Length, summary.LiveBytes);
        Assert.Equal(keep, await reopened.GetAsync("keep", ct));
    }
}
