using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

/// <summary>Conditional and expiring Puts through the tree (docs/api.md, "Publish"; protocol version 8).</summary>
public sealed class ConditionalPutTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(TreeCluster.PlainTransports), MemberType = typeof(TreeCluster))]
    public async Task TwoPutsWithTheSameIfVersion_ExactlyOneWins_TheOtherIsAConflict(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        await using var atRoot = await TreeCluster.ConnectAsync(cluster.Root);
        await using var atRelay = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        var first = await atRoot.PutAsync("counter", TestData.Random(100, 0), ct);
        Assert.Equal(1, first.Version);

        long version = first.Version;
        for (int round = 0; round < 10; round++)
        {
            // Small from the root, large (PUT_CHUNK, PUT_MANIFEST and BIND) through the relay: both requests race.
            var small = atRoot.PutAsync("counter", TestData.Random(100, 1 + round), new PutOptions { IfVersion = version }, ct).AsTask();
            var large = atRelay.PutAsync("counter", TestData.Random(2 << 20, 100 + round), new PutOptions { IfVersion = version }, ct).AsTask();
            var outcomes = await Task.WhenAll(Outcome(small), Outcome(large)).WaitAsync(Timeout, ct);
            var won = Assert.Single(outcomes, o => o.Info is not null);
            var lost = Assert.Single(outcomes, o => o.Error is not null);
            Assert.Equal(OmniStoreError.Conflict, lost.Error);
            Assert.Equal(version + 1, won.Info!.Version);
            version = won.Info.Version;
            Assert.Equal(version, (await atRelay.StatAsync("counter", ct))!.Version);
        }

        // A stale version is refused and leaves the name as it was.
        var stale = await Assert.ThrowsAsync<OmniStoreException>(() => atRelay.PutAsync("counter", new byte[1], new PutOptions { IfVersion = 1 }, ct).AsTask());
        Assert.Equal(OmniStoreError.Conflict, stale.Error);
        Assert.Contains("moved on", stale.Message, StringComparison.Ordinal);
        Assert.Equal(version, (await atRoot.StatAsync("counter", ct))!.Version);

        static async Task<(ObjectInfo? Info, OmniStoreError? Error)> Outcome(Task<ObjectInfo> put)
        {
            try
            {
                return (await put, null);
            }
            catch (OmniStoreException ex)
            {
                return (null, ex.Error);
            }
        }
    }

    [Fact]
    public async Task IfNotExists_BindsAFreeName_RefusesABoundOne_AndBindsItAgainOnceDeleted()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        var onlyIfFree = new PutOptions { IfNotExists = true };
        Assert.Equal(1, (await worker.PutAsync("lock", new byte[] { 1 }, onlyIfFree, ct)).Version);
        var taken = await Assert.ThrowsAsync<OmniStoreException>(() => worker.PutAsync("lock", new byte[] { 2 }, onlyIfFree, ct).AsTask());
        Assert.Equal(OmniStoreError.Conflict, taken.Error);
        Assert.Equal(new byte[] { 1 }, await worker.GetAsync("lock", ct));

        Assert.True(await worker.DeleteAsync("lock", ct));
        Assert.Equal(3, (await worker.PutAsync("lock", new byte[] { 3 }, onlyIfFree, ct)).Version);
    }

    [Fact]
    public async Task IfChanged_KeepsTheBindingForIdenticalContent_WithoutAnUpdate_AndBindsChangedContent()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        var data = TestData.Random(3000, 7);
        var first = await master.PutAsync("input", data, ct);

        // Without the option, identical content makes a new version (a version counts Puts).
        var again = await master.PutAsync("input", data, ct);
        Assert.Equal((2L, first.ManifestId), (again.Version, again.ManifestId));

        var kept = await master.PutAsync("input", data, new PutOptions { IfChanged = true }, ct);
        Assert.Equal((2L, first.ManifestId), (kept.Version, kept.ManifestId));
        Assert.Equal(2, (await worker.StatAsync("input", ct))!.Version);

        var changed = await worker.PutAsync("input", TestData.Random(3000, 8), new PutOptions { IfChanged = true }, ct);
        Assert.Equal(3, changed.Version);
        Assert.NotEqual(first.ManifestId, changed.ManifestId);
    }

    [Fact]
    public async Task AnExpiringPut_IsForgottenByTheRelay_WhereAGetThenSaysNotFound()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        var before = DateTimeOffset.UtcNow;
        var put = await master.PutAsync("scratch", TestData.Random(2000, 9), new PutOptions { TimeToLive = TimeSpan.FromSeconds(1.5) }, ct);
        Assert.NotNull(put.Expires);
        Assert.InRange(put.Expires!.Value, before.AddSeconds(1.4), DateTimeOffset.UtcNow.AddSeconds(1.6));

        // Read through the relay: the relay caches the binding, and its stat shows the expiry.
        Assert.Equal(2000, (await worker.GetAsync("scratch", ct)).Length);
        Assert.Equal(put.Expires, (await worker.StatAsync("scratch", ct))!.Expires);
        await master.PutAsync("forever", new byte[3], ct);
        Assert.Null((await worker.StatAsync("forever", ct))!.Expires);

        // The root's timer unbinds it and pushes the tombstone down; the worker does not poll the root.
        await Task.Delay(put.Expires.Value - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(300), ct);
        var deadline = DateTime.UtcNow + Timeout;
        while (await worker.StatAsync("scratch", ct) is not null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, ct);
        }

        var gone = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("scratch", ct).AsTask());
        Assert.Equal(OmniStoreError.NotFound, gone.Error);
        Assert.Null(await master.StatAsync("scratch", ct));
        Assert.NotNull(await worker.StatAsync("forever", ct));

        // A later Put without a time to live binds the name for good.
        var again = await master.PutAsync("scratch", new byte[4], ct);
        Assert.Equal((3L, (DateTimeOffset?)null), (again.Version, again.Expires));
    }

    [Fact]
    public async Task TheRootRestarted_KeepsTheExpiry_AndUnbindsTheNameWhenItPasses()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        var rootDir = cluster.DirectoryOf("root-kept");
        var root = await cluster.StartNodeAsync("root", null, rootDir);
        DateTimeOffset expires;
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            expires = (await master.PutAsync("lease", new byte[10], new PutOptions { TimeToLive = TimeSpan.FromSeconds(2.5) }, ct)).Expires!.Value;
            await master.PutAsync("lease-large", TestData.Random(3 << 20, 11), new PutOptions { TimeToLive = TimeSpan.FromSeconds(2.5) }, ct); // a checkpoint, not the journal
        }

        await cluster.StopAsync(root);
        root = await cluster.StartNodeAsync("root", null, rootDir);
        await using (var master = await TreeCluster.ConnectAsync(root))
        {
            Assert.Equal(expires, (await master.StatAsync("lease", ct))!.Expires);
            Assert.NotNull((await master.StatAsync("lease-large", ct))!.Expires);
            await Task.Delay(expires - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200), ct);
            Assert.Null(await master.StatAsync("lease", ct));
        }

        // Unbound for good, not only read as expired: the store holds a tombstone after another restart.
        var deadline = DateTime.UtcNow + Timeout;
        while (root.PendingExpiries > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, ct);
        }

        Assert.Equal(0, root.PendingExpiries);
        await cluster.StopAsync(root);
        root = await cluster.StartNodeAsync("root", null, rootDir);
        Assert.Equal(0, root.PendingExpiries);
        await using var after = await TreeCluster.ConnectAsync(root);
        Assert.Equal(3, (await after.PutAsync("lease", new byte[1], new PutOptions { IfNotExists = true }, ct)).Version);
    }

    [Fact]
    public async Task BadOptions_AreRefusedWithInvalidArgument_BeforeAnythingIsSent()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);
        foreach (var bad in BadOptions)
        {
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => client.PutAsync("x", new byte[1], bad, ct).AsTask());
            Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        }

        Assert.Null(await client.StatAsync("x", ct));
    }

    /// <summary>Options every Put refuses: a time to live of zero, below or past the most, version 0 or below, both conditions at once.</summary>
    internal static PutOptions[] BadOptions =>
    [
        new() { TimeToLive = TimeSpan.FromSeconds(-5) },
        new() { TimeToLive = TimeSpan.Zero },
        new() { TimeToLive = PutOptions.MaxTimeToLive + TimeSpan.FromDays(1) },
        new() { IfVersion = 0 },
        new() { IfVersion = -3 },
        new() { IfVersion = 2, IfNotExists = true },
    ];

    [Fact]
    public async Task AConditionalPut_ToARootOfVersion7_FailsClearly_AndBindsNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartWithAsync(relays: 0, o => o with { MaxProtocolVersion = 7 });
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);
        foreach (var options in new PutOptions[] { new() { IfNotExists = true }, new() { TimeToLive = TimeSpan.FromMinutes(1) }, new() { IfChanged = true } })
        {
            foreach (int size in new[] { 100, 2 << 20 })
            {
                var error = await Assert.ThrowsAsync<OmniStoreException>(() => client.PutAsync("guarded", new byte[size], options, ct).AsTask());
                Assert.Equal(OmniStoreError.ProtocolError, error.Error);
                Assert.Contains("needs protocol version 8", error.Message, StringComparison.Ordinal);
            }
        }

        Assert.Null(await client.StatAsync("guarded", ct));
        Assert.Equal(1, (await client.PutAsync("guarded", new byte[1], new PutOptions { Broadcast = true }, ct)).Version); // no condition: any version
    }

    [Fact]
    public async Task AConditionalPut_ThroughARelayWhoseParentSpeaksVersion7_FailsClearly_AndBindsNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartWithAsync(relays: 1, o => o.Parent is null ? o with { MaxProtocolVersion = 7 } : o);
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        foreach (int size in new[] { 100, 2 << 20 })
        {
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => worker.PutAsync("guarded", new byte[size], new PutOptions { IfVersion = 1 }, ct).AsTask());
            Assert.Equal(OmniStoreError.ProtocolError, error.Error);
            Assert.Contains("parent", error.Message, StringComparison.Ordinal);
        }

        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        Assert.Null(await master.StatAsync("guarded", ct));
    }
}
