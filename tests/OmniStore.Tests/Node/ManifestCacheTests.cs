using OmniStore.Content;
using OmniStore.Node.Internal;

namespace OmniStore.Tests.Node;

public sealed class ManifestCacheTests
{
    private static Manifest Small(int seed, int chunks = 1)
    {
        var ids = Enumerable.Range(0, chunks).Select(i => ChunkId.Compute([(byte)seed, (byte)(seed >> 8), (byte)(seed >> 16), (byte)i])).ToList();
        return new Manifest(new ChunkLayout(chunks * (64L << 10), 64 << 10), ids);
    }

    [Fact]
    public void AManifestAdded_IsFoundByItsId_AndNoOther()
    {
        var cache = new ManifestCache(8, 16);
        var manifest = Small(1);

        cache.Add(manifest);

        Assert.True(cache.TryGet(manifest.Id, out var found));
        Assert.Same(manifest, found);
        Assert.False(cache.TryGet(Small(2).Id, out _));
    }

    [Fact]
    public void AManifestOfMoreChunksThanAllowed_IsNotKept()
    {
        var cache = new ManifestCache(8, 16);

        cache.Add(Small(1, chunks: 17));
        cache.Add(Small(2, chunks: 16));

        Assert.Equal(1, cache.Count);
        Assert.False(cache.TryGet(Small(1, chunks: 17).Id, out _));
        Assert.True(cache.TryGet(Small(2, chunks: 16).Id, out _));
    }

    [Fact]
    public void NeverHoldsMoreThanItsCapacity_AndKeepsTheManifestsInUse()
    {
        var cache = new ManifestCache(100, 16);
        var hot = Small(-1);
        cache.Add(hot);
        for (int i = 0; i < 5_000; i++)
        {
            cache.Add(Small(i));
            Assert.InRange(cache.Count, 0, cache.Capacity);

            // Looked up between every two sweeps, it is never dropped.
            Assert.True(cache.TryGet(hot.Id, out _), $"the manifest in use was dropped after {i + 1} others");
        }

        Assert.True(cache.TryGet(Small(4_999).Id, out _));
        Assert.False(cache.TryGet(Small(0).Id, out _));
    }

    [Fact]
    public async Task ConcurrentAdds_KeepTheCountExact_AndWithinCapacity()
    {
        var cache = new ManifestCache(64, 16);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < 2_000; i++)
            {
                cache.Add(Small((t * 10_000) + (i % 500)));
                cache.TryGet(Small(i % 500).Id, out _);
            }
        }, TestContext.Current.CancellationToken)));

        Assert.InRange(cache.Count, 1, cache.Capacity);
    }
}
