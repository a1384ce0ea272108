using OmniStore.Node.Internal;

namespace OmniStore.Tests.Node;

public sealed class SingleFlightTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CallersThatAskWhileItRuns_ShareOneExecution()
    {
        var flight = new SingleFlight<string, int>(CancellationToken.None);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int runs = 0;
        Task<int> Work(string key, CancellationToken ct)
        {
            Interlocked.Increment(ref runs);
            return gate.Task;
        }

        var first = flight.RunAsync("k", Work, out bool firstStarted, CancellationToken.None);
        var second = flight.RunAsync("k", Work, out bool secondStarted, CancellationToken.None);
        var other = flight.RunAsync("other", (_, _) => Task.FromResult(7), CancellationToken.None);
        gate.SetResult(42);

        int[] both = await Task.WhenAll(first, second).WaitAsync(Timeout, Ct);
        Assert.Equal([42, 42], both);
        Assert.Equal(7, await other.WaitAsync(Timeout, Ct));
        Assert.True(firstStarted);
        Assert.False(secondStarted);
        Assert.Equal(1, runs);
        Assert.Equal(2, flight.Executions);
        Assert.Equal(1, flight.Joined);
        Assert.Equal(0, flight.InFlight);
    }

    [Fact]
    public async Task AJoinerThatStopsWaiting_EndsOnlyItsOwnWait()
    {
        var flight = new SingleFlight<string, int>(CancellationToken.None);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var leaving = new CancellationTokenSource();

        var starter = flight.RunAsync("k", (_, _) => gate.Task, CancellationToken.None);
        var joiner = flight.RunAsync("k", (_, _) => Task.FromResult(-1), leaving.Token);
        await leaving.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => joiner.WaitAsync(Timeout, Ct));
        Assert.False(starter.IsCompleted);
        gate.SetResult(42);
        Assert.Equal(42, await starter.WaitAsync(Timeout, Ct));
    }

    [Fact]
    public async Task TheStarterLeaving_DoesNotCancelTheWork_TheJoinersGetTheResult_AndTheResultIsReleased()
    {
        using var lifetime = new CancellationTokenSource();
        var released = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var flight = new SingleFlight<string, int>(lifetime.Token, unclaimed: value => released.TrySetResult(value));
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        CancellationToken seenByWork = default;
        using var starterLeaves = new CancellationTokenSource();

        var starter = flight.RunAsync("k", (_, ct) =>
        {
            seenByWork = ct;
            return gate.Task;
        }, starterLeaves.Token);
        var joiner = flight.RunAsync("k", (_, _) => Task.FromResult(-1), CancellationToken.None);
        await starterLeaves.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => starter.WaitAsync(Timeout, Ct));
        Assert.Equal(lifetime.Token, seenByWork);
        Assert.False(seenByWork.IsCancellationRequested);
        Assert.False(released.Task.IsCompleted);

        gate.SetResult(42);
        Assert.Equal(42, await joiner.WaitAsync(Timeout, Ct));
        Assert.Equal(42, await released.Task.WaitAsync(Timeout, Ct));
    }

    [Fact]
    public async Task AStarterThatWaitsToTheEnd_ClaimsTheResult_AndNothingIsReleased()
    {
        int released = 0;
        var flight = new SingleFlight<string, int>(CancellationToken.None, unclaimed: _ => Interlocked.Increment(ref released));
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var token = new CancellationTokenSource();

        var starter = flight.RunAsync("k", (_, _) => gate.Task, token.Token);
        gate.SetResult(5);
        Assert.Equal(5, await starter.WaitAsync(Timeout, Ct));
        await token.CancelAsync();
        await Task.Delay(50, Ct);
        Assert.Equal(0, released);
    }

    [Fact]
    public async Task TheOwnersLifetimeEnding_CancelsTheWork_AndEveryWaiterSeesIt()
    {
        using var lifetime = new CancellationTokenSource();
        var flight = new SingleFlight<string, int>(lifetime.Token);
        var starter = flight.RunAsync("k", async (_, ct) =>
        {
            await Task.Delay(System.Threading.Timeout.Infinite, ct);
            return 1;
        }, CancellationToken.None);
        var joiner = flight.RunAsync("k", (_, _) => Task.FromResult(-1), CancellationToken.None);

        await lifetime.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => starter.WaitAsync(Timeout, Ct));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => joiner.WaitAsync(Timeout, Ct));
    }

    [Fact]
    public async Task AFailedExecution_FailsEveryWaiter_AndIsNotKept_SoTheNextCallRetries()
    {
        var flight = new SingleFlight<string, int>(CancellationToken.None);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = flight.RunAsync("k", (_, _) => gate.Task, CancellationToken.None);
        var second = flight.RunAsync("k", (_, _) => Task.FromResult(-1), CancellationToken.None);
        gate.SetException(new OmniStoreException(OmniStoreError.Unavailable, "parent gone"));

        Assert.Equal(OmniStoreError.Unavailable, (await Assert.ThrowsAsync<OmniStoreException>(() => first.WaitAsync(Timeout, Ct))).Error);
        Assert.Equal(OmniStoreError.Unavailable, (await Assert.ThrowsAsync<OmniStoreException>(() => second.WaitAsync(Timeout, Ct))).Error);

        var retry = flight.RunAsync("k", (_, _) => Task.FromResult(9), out bool started, CancellationToken.None);
        Assert.True(started);
        Assert.Equal(9, await retry.WaitAsync(Timeout, Ct));
        Assert.Equal(2, flight.Executions);
    }

    [Fact]
    public async Task AFinishedExecution_IsNotCached_TheNextCallRunsAgain()
    {
        var flight = new SingleFlight<string, int>(CancellationToken.None);
        int runs = 0;
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i, await flight.RunAsync("k", (_, _) => Task.FromResult(Interlocked.Increment(ref runs) - 1), CancellationToken.None).WaitAsync(Timeout, Ct));
        }

        Assert.Equal(3, runs);
        Assert.Equal(0, flight.Joined);
    }
}
