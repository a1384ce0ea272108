using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Api;

/// <summary>The embedded store watches its own changes (docs/watch.md, "Watch").</summary>
public sealed class WatchEmbeddedTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private OmniStoreClient Open() => OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path });

    [Fact]
    public async Task WatchAsync_YieldsThisProcesssChanges_InOrder_AndFromZeroReplaysThemAfterAReopen()
    {
        var ct = TestContext.Current.CancellationToken;
        using (var client = Open())
        {
            client.Put("x/before", [1]);
            await using var changes = new ChangeCollector(client.WatchAsync("x/", ct));
            await Task.Delay(100, ct); // the watch starts from now: a Put before it is not reported, wherever it falls
            client.Put("x/a", [1, 2]);
            client.Put("y/a", [1]);
            client.Put("x/a", [1, 2, 3]);
            await client.DeleteAsync("x/before", ct);
            var seen = await changes.TakeAsync(3);
            Assert.Equal([("x/a", ObjectChangeKind.Bound), ("x/a", ObjectChangeKind.Rebound), ("x/before", ObjectChangeKind.Deleted)], seen.Select(c => (c.Name, c.Kind)));
            Assert.Equal(3, seen[1].Info!.Length);
            WatchTests.AssertGrowing(seen);
        }

        using var reopened = Open();
        await using var replay = new ChangeCollector(reopened.WatchAsync("x/", 0, ct));
        Assert.Equal(["x/before", "x/a", "x/a", "x/before"], (await replay.TakeAsync(4)).Select(c => c.Name));
        Assert.Equal(OmniStoreError.InvalidArgument, (await Assert.ThrowsAsync<OmniStoreException>(() => reopened.WatchAsync("x/", 99, ct).GetAsyncEnumerator(ct).MoveNextAsync().AsTask())).Error);
    }

    [Fact]
    public async Task AnExpiringPut_IsAChangeLikeAnyOther_AndItsExpiryIsKeptInTheHistory()
    {
        var ct = TestContext.Current.CancellationToken;
        using (var client = Open())
        {
            await client.PutAsync("t/lease", new byte[] { 1 }, new PutOptions { TimeToLive = TimeSpan.FromHours(1) }, ct);
            await client.PutAsync("t/other", new byte[] { 2 }, ct);
        }

        using var reopened = Open();
        await using var replay = new ChangeCollector(reopened.WatchAsync("t/", 0, ct));
        var seen = await replay.TakeAsync(2);
        Assert.Equal(["t/lease", "t/other"], seen.Select(c => c.Name));
        Assert.All(seen, c => Assert.Equal(ObjectChangeKind.Bound, c.Kind));
    }

    [Fact]
    public async Task AWatcherThatReadsSlowerThanChangesCome_IsResumed_AndMissesNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = Open();
        await using var watch = client.WatchAsync("s/", ct).GetAsyncEnumerator(ct);
        var first = watch.MoveNextAsync().AsTask();
        client.Put("s/first", [1]);
        Assert.True(await first);

        // More changes than a watcher may have queued, while the caller reads none.
        int count = ListMessages.MaxQueuedChanges + 500;
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (i, token) =>
            await client.PutAsync($"s/{i:D5}", new byte[1], token));

        var names = new HashSet<string>();
        long last = watch.Current.Sequence;
        while (names.Count < count)
        {
            Assert.True(await watch.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30), ct));
            Assert.True(watch.Current.Sequence > last, $"{watch.Current.Sequence} after {last}");
            last = watch.Current.Sequence;
            Assert.True(names.Add(watch.Current.Name), $"{watch.Current.Name} twice");
        }
    }
}
