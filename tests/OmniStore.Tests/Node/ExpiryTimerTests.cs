using System.Collections.Concurrent;
using OmniStore.Node.Internal;

namespace OmniStore.Tests.Node;

/// <summary>The root's one expiry timer: bounded memory and work, whatever the count of names (docs/api.md, "Expiry").</summary>
public sealed class ExpiryTimerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ThousandsOfNames_ExpireOnce_EachAtItsVersion_NeverTwoAtOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        var expired = new ConcurrentDictionary<string, long>();
        int running = 0, most = 0;
        await using var timer = new ExpiryTimer(
            async (name, version, token) =>
            {
                int now = Interlocked.Increment(ref running);
                most = Math.Max(most, now);
                await Task.Yield();
                Assert.True(expired.TryAdd(name, version), $"{name} expired twice");
                Interlocked.Decrement(ref running);
            },
            TimeProvider.System);

        long due = timer.NowUnixMs + 200;
        for (int i = 0; i < 3000; i++)
        {
            timer.Note($"n/{i}", 1, due + (i % 7));
        }

        // Rebinding a name replaces its entry; a later binding without an expiry forgets it; an
        // older binding noted late changes nothing.
        for (int version = 2; version <= 50; version++)
        {
            timer.Note("n/0", version, due);
        }

        timer.Note("n/0", 3, due + 5);
        timer.Note("n/1", 2, 0);
        Assert.Equal(2999, timer.Count);

        var deadline = DateTime.UtcNow + Timeout;
        while (expired.Count < 2999 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, ct);
        }

        Assert.Equal(2999, expired.Count);
        Assert.Equal(50, expired["n/0"]);
        Assert.False(expired.ContainsKey("n/1"));
        Assert.Equal(1, most);
        Assert.Equal(0, timer.Count);
    }

    [Fact]
    public async Task AnExpiryFarAhead_IsNotExpiredEarly_AndDisposingStopsTheTimer()
    {
        var ct = TestContext.Current.CancellationToken;
        int calls = 0;
        var timer = new ExpiryTimer((_, _, _) => { Interlocked.Increment(ref calls); return Task.CompletedTask; }, TimeProvider.System);
        timer.Note("later", 1, timer.NowUnixMs + (long)TimeSpan.FromDays(300).TotalMilliseconds); // past what one timer period holds
        timer.Note("soon", 1, timer.NowUnixMs + 100);
        await Task.Delay(400, ct);
        Assert.Equal(1, calls);
        Assert.Equal(1, timer.Count);
        await timer.DisposeAsync();
        timer.Note("after", 1, timer.NowUnixMs);
        await Task.Delay(100, ct);
        Assert.Equal(1, calls);
    }
}
