using OmniStore.Content;
using OmniStore.Node.Internal;
using OmniStore.Protocol;

namespace OmniStore.Tests.Node;

public sealed class BindingCacheTests
{
    private static BindingMessage Binding(string name, long version) =>
        new(name, version, new ManifestId(new UInt128((ulong)version, 7)), IsBound: true);

    [Fact]
    public void NewestVersionWins_WhicheverArrivesFirst()
    {
        var cache = new BindingCache(8);
        Assert.Equal(5, cache.KeepNewest(Binding("a", 5)).Version);
        Assert.Equal(5, cache.KeepNewest(Binding("a", 4)).Version); // an answer overtaken by an UPDATE
        Assert.Equal(6, cache.KeepNewest(Binding("a", 6)).Version);
        Assert.True(cache.TryGet("a", out var held));
        Assert.Equal(Binding("a", 6), held);
        Assert.False(cache.TryGet("b", out _));
    }

    [Fact]
    public void NeverHoldsMoreThanItsCapacity_AndKeepsTheNamesInUse()
    {
        var cache = new BindingCache(100);
        cache.KeepNewest(Binding("hot", 1));
        for (int i = 0; i < 10_000; i++)
        {
            cache.KeepNewest(Binding($"name-{i}", 1));
            Assert.InRange(cache.Count, 0, cache.Capacity);

            // Looked up between every two sweeps, it is never dropped.
            Assert.True(cache.TryGet("hot", out _), $"the name in use was dropped after {i + 1} others");
        }

        Assert.True(cache.TryGet("name-9999", out _));
        Assert.False(cache.TryGet("name-0", out _));
    }

    [Fact]
    public void Clear_ForgetsEverything_AndCountsFromZero()
    {
        var cache = new BindingCache(4);
        for (int i = 0; i < 3; i++)
        {
            cache.KeepNewest(Binding($"n{i}", 1));
        }

        cache.Clear();
        Assert.Equal(0, cache.Count);
        Assert.False(cache.TryGet("n0", out _));
        cache.KeepNewest(Binding("n0", 2));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task ConcurrentUse_KeepsTheCountExact_AndWithinCapacity()
    {
        var cache = new BindingCache(64);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                cache.KeepNewest(Binding($"name-{i % 500}", i / 500));
                cache.TryGet($"name-{(i * 7) % 500}", out _);
            }
        }, TestContext.Current.CancellationToken)));

        Assert.InRange(cache.Count, 1, cache.Capacity);
        int held = Enumerable.Range(0, 500).Count(i => cache.TryGet($"name-{i}", out _));
        Assert.Equal(cache.Count, held);
    }
}
