using OmniStore.Content;
using OmniStore.Storage.Internal;

namespace OmniStore.Tests.Storage;

/// <summary>
/// The store's map from chunk id to where the chunk log last had it: what it keeps, what makes it
/// forget, and its bound. (ChunkReadPathTests checks how the store uses it against a real log.)
/// </summary>
public sealed class ChunkLocationCacheTests
{
    private static ChunkId Id(int n) => new((UInt128)(uint)n * 0x9E3779B97F4A7C15UL + 1);

    [Fact]
    public void ARememberedLocation_IsReturned_AndAnUnknownChunkHasNone()
    {
        var cache = new ChunkLocationCache();
        cache.Remember(Id(1), address: 4096, length: 65536);

        Assert.True(cache.TryGet(Id(1), out var location));
        Assert.Equal(new ChunkLocation(4096, 65536), location);
        Assert.False(cache.TryGet(Id(2), out _));
        Assert.Equal(1, cache.Count);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    public void AnAddressOfZeroOrLess_IsNotRemembered(long address)
    {
        // FASTER reports no address for a record it did not find or write at a known place.
        var cache = new ChunkLocationCache();
        cache.Remember(Id(1), address, 100);

        Assert.False(cache.TryGet(Id(1), out _));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void RememberingAKnownChunkAgain_ReplacesItsLocation_WithoutCountingItTwice()
    {
        var cache = new ChunkLocationCache();
        cache.Remember(Id(1), 4096, 100);
        cache.Remember(Id(1), 1 << 20, 100); // moved by a compaction

        Assert.True(cache.TryGet(Id(1), out var location));
        Assert.Equal(1L << 20, location.Address);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Forget_DropsTheLocation_AndForgettingAnUnknownChunkChangesNothing()
    {
        var cache = new ChunkLocationCache();
        cache.Remember(Id(1), 4096, 100);
        cache.Remember(Id(2), 8192, 100);

        cache.Forget(Id(1));
        cache.Forget(Id(1));
        cache.Forget(Id(3));

        Assert.False(cache.TryGet(Id(1), out _));
        Assert.True(cache.TryGet(Id(2), out _));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void ForgettingAStaleLocation_KeepsANewerOneRememberedMeanwhile()
    {
        // A reader found the old place gone while a writer or another reader learned the new one:
        // the reader's forget must not throw the new place away.
        var cache = new ChunkLocationCache();
        cache.Remember(Id(1), 4096, 100);
        Assert.True(cache.TryGet(Id(1), out var stale));
        cache.Remember(Id(1), 1 << 20, 100);

        cache.Forget(Id(1), stale);
        Assert.True(cache.TryGet(Id(1), out var current));
        Assert.Equal(1L << 20, current.Address);
        Assert.Equal(1, cache.Count);

        cache.Forget(Id(1), current);
        Assert.False(cache.TryGet(Id(1), out _));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void AFullCache_LearnsNoNewChunk_StillUpdatesKnownOnes_AndLearnsAgainOnceOneIsForgotten()
    {
        var cache = new ChunkLocationCache(capacity: 3);
        for (int i = 0; i < 3; i++)
        {
            cache.Remember(Id(i), 4096 * (i + 1), 100);
        }

        cache.Remember(Id(10), 65536, 100);
        Assert.False(cache.TryGet(Id(10), out _));
        Assert.Equal(3, cache.Count);

        cache.Remember(Id(0), 1 << 20, 100);
        Assert.True(cache.TryGet(Id(0), out var moved));
        Assert.Equal(1L << 20, moved.Address);

        cache.Forget(Id(1));
        cache.Remember(Id(10), 65536, 100);
        Assert.True(cache.TryGet(Id(10), out _));
        Assert.Equal(3, cache.Count);
    }

    [Fact]
    public async Task UnderConcurrentUse_TheCountMatchesWhatIsRemembered_AndStaysNearItsBound()
    {
        const int Threads = 4;
        const int Capacity = 500;
        const int PerThread = 2000;
        var cache = new ChunkLocationCache(Capacity);
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait(TimeSpan.FromSeconds(10));
                for (int i = 0; i < PerThread; i++)
                {
                    // Every thread works on the same ids, so adds, updates and forgets race.
                    var id = Id(i % (2 * Capacity));
                    cache.Remember(id, 4096 + i, 100);
                    if (i % 3 == t % 3 && cache.TryGet(id, out var location))
                    {
                        cache.Forget(id, location);
                    }
                    else if (i % 7 == 0)
                    {
                        cache.Forget(id);
                    }
                }
            },
            TestContext.Current.CancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        int remembered = Enumerable.Range(0, 2 * Capacity).Count(i => cache.TryGet(Id(i), out _));
        Assert.Equal(remembered, cache.Count);
        Assert.InRange(cache.Count, 0, Capacity + Threads); // checked before adding, not under a lock
    }

    [Fact]
    public void ACapacityBelowOne_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkLocationCache(0));
    }
}
