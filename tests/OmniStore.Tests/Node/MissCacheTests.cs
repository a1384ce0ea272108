using OmniStore.Node.Internal;

namespace OmniStore.Tests.Node;

public sealed class MissCacheTests
{
    [Fact]
    public void AMiss_IsRememberedForItsLifetime_ThenForgotten()
    {
        var time = new ManualTime();
        var misses = new MissCache<string>(10, TimeSpan.FromSeconds(5), time);
        Assert.True(misses.TryRemember("a", misses.Generation));
        Assert.True(misses.Contains("a"));
        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.True(misses.Contains("a"));
        time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.False(misses.Contains("a"));
        Assert.Equal(0, misses.Count);
    }

    [Fact]
    public void AnAnswerThatAnInvalidationOvertook_IsNotRemembered()
    {
        var misses = new MissCache<string>(10, TimeSpan.FromSeconds(5), new ManualTime());
        long asked = misses.Generation;
        misses.Forget("other"); // e.g. a chunk written through the relay while the parent was asked
        Assert.False(misses.TryRemember("a", asked));
        Assert.False(misses.Contains("a"));

        asked = misses.Generation;
        Assert.True(misses.TryRemember("a", asked));
        misses.Clear(); // e.g. a binding update
        Assert.False(misses.Contains("a"));
        Assert.False(misses.TryRemember("b", asked));
    }

    [Fact]
    public void TheCache_HoldsAtMostItsCapacity_ForgettingTheOldestFirst()
    {
        var time = new ManualTime();
        var misses = new MissCache<int>(100, TimeSpan.FromSeconds(5), time);
        for (int i = 0; i < 10_000; i++)
        {
            Assert.True(misses.TryRemember(i, misses.Generation));
            time.Advance(TimeSpan.FromTicks(1));
        }

        Assert.Equal(100, misses.Count);
        Assert.False(misses.Contains(9_899));
        Assert.True(misses.Contains(9_900));
        Assert.True(misses.Contains(9_999));
    }

    [Fact]
    public void WithALifetimeOfZero_NothingIsRemembered()
    {
        var misses = new MissCache<int>(100, TimeSpan.Zero, new ManualTime());
        Assert.True(misses.TryRemember(1, misses.Generation));
        Assert.False(misses.Contains(1));
    }

    [Fact]
    public async Task AChildsMissAllowance_RefillsAtItsRate_AndItsTurnsAreBounded()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = new ManualTime();
        var budget = new ChildUpstreamBudget(maxInFlight: 2, missRate: 10, missBurst: 3, time);
        for (int i = 0; i < 3; i++)
        {
            using var lease = await budget.EnterAsync(ct);
            lease.Miss();
        }

        var refused = await Assert.ThrowsAsync<OmniStoreException>(() => budget.EnterAsync(ct).AsTask());
        Assert.Equal(OmniStoreError.Unavailable, refused.Error);
        Assert.Contains("Too many misses", refused.Message, StringComparison.Ordinal);

        time.Advance(TimeSpan.FromMilliseconds(100)); // one miss more
        using (var lease = await budget.EnterAsync(ct))
        {
            lease.Miss();
        }

        await Assert.ThrowsAsync<OmniStoreException>(() => budget.EnterAsync(ct).AsTask());

        // Answers that are not misses cost nothing; turns are bounded all the same.
        time.Advance(TimeSpan.FromSeconds(10));
        var first = await budget.EnterAsync(ct);
        var second = await budget.EnterAsync(ct);
        var third = budget.EnterAsync(ct).AsTask();
        await Task.Delay(50, ct);
        Assert.False(third.IsCompleted, "a third request went upstream while two were in flight");
        first.Dispose();
        (await third.WaitAsync(TimeSpan.FromSeconds(10), ct)).Dispose();
        second.Dispose();
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private long _now = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _now);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _now, by.Ticks);
    }
}
