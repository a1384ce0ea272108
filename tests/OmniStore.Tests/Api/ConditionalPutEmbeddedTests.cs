using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Api;

/// <summary>The embedded store takes the same Put options as the tree (docs/api.md, "Publish").</summary>
public sealed class ConditionalPutEmbeddedTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private OmniStoreClient Open() => OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path });

    [Fact]
    public async Task EightPutsWithTheSameIfVersion_OneWins()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = Open();
        var first = client.Put("n", new byte[1]);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            try
            {
                return (await client.PutAsync("n", TestData.Random(1000, i), new PutOptions { IfVersion = first.Version }, ct)).Version;
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Conflict)
            {
                return 0;
            }
        }));
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 2], outcomes.Order());
    }

    [Fact]
    public async Task IfNotExists_IfChanged_AndAPutReturnsItsBinding()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = Open();
        var data = TestData.Random(500, 3);
        var put = await client.PutAsync("a", data, new PutOptions { IfNotExists = true }, ct);
        Assert.Equal((1L, 500L), (put.Version, put.Length));
        Assert.Equal(OmniStoreError.Conflict, Assert.Throws<OmniStoreException>(() => client.Put("a", data, new PutOptions { IfNotExists = true })).Error);
        Assert.Equal(1, client.Put("a", data, new PutOptions { IfChanged = true }).Version);
        Assert.Equal(2, client.Put("a", data).Version);
        Assert.Equal(3, client.Put("a", [1, 2], new PutOptions { IfChanged = true }).Version);
        await using var stream = new MemoryStream(data);
        Assert.Equal(4, (await client.PutAsync("a", stream, ct)).Version);
    }

    [Fact]
    public async Task AnExpiringPut_ExpiresInProcess_AndItsExpirySurvivesAReopen()
    {
        var ct = TestContext.Current.CancellationToken;
        DateTimeOffset expires;
        await using (var client = Open())
        {
            expires = client.Put("short", [1], new PutOptions { TimeToLive = TimeSpan.FromMilliseconds(400) }).Expires!.Value;
            client.Put("long", [2], new PutOptions { TimeToLive = TimeSpan.FromSeconds(2) });
            Assert.Equal(expires, (await client.StatAsync("short", ct))!.Expires);
            await Task.Delay(expires - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(100), ct);
            Assert.Null(await client.StatAsync("short", ct));
            Assert.Equal(OmniStoreError.NotFound, (await Assert.ThrowsAsync<OmniStoreException>(() => client.GetAsync("short", ct).AsTask())).Error);
        }

        await using (var reopened = Open())
        {
            var info = await reopened.StatAsync("long", ct);
            Assert.NotNull(info?.Expires);
            await Task.Delay(info!.Expires!.Value - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(100), ct);
            Assert.Null(await reopened.StatAsync("long", ct));
            Assert.Empty(await ListAndWaitTests.ToListAsync(reopened.ListAsync(cancellationToken: ct)));
        }
    }

    [Fact]
    public async Task BadOptions_AreInvalidArgument()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = Open();
        foreach (var bad in ConditionalPutTests.BadOptions)
        {
            Assert.Equal(OmniStoreError.InvalidArgument, Assert.Throws<OmniStoreException>(() => client.Put("x", [1], bad)).Error);
            Assert.Equal(OmniStoreError.InvalidArgument, (await Assert.ThrowsAsync<OmniStoreException>(() => client.PutAsync("x", new byte[1], bad, ct).AsTask())).Error);
        }

        Assert.Null(await client.StatAsync("x", ct));
    }

    [Fact]
    public async Task ANullName_IsArgumentNullException_InEveryCall()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = Open();
        string name = null!;
        Assert.Throws<ArgumentNullException>(() => client.Put(name, [1]));
        Assert.Throws<ArgumentNullException>(() => client.Put(name, [1], new PutOptions()));
        Assert.Throws<ArgumentNullException>(() => client.Get(name, new byte[1]));
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.PutAsync(name, new byte[1], ct).AsTask());
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.PutAsync(name, new MemoryStream(), ct).AsTask());
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.GetAsync(name, ct).AsTask());
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.GetAsync(name, Stream.Null, ct).AsTask());
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.StatAsync(name, ct).AsTask());
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.DeleteAsync(name, ct).AsTask());
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.WaitForAsync(name, ct).AsTask());
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.PrefetchAsync(name, ct));
    }
}
