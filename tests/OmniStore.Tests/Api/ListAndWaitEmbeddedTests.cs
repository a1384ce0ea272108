using OmniStore.Tests.Infrastructure;
using OmniStore.Tests.Tree;

namespace OmniStore.Tests.Api;

/// <summary>The embedded store lists and waits by itself (docs/watch.md).</summary>
public sealed class ListAndWaitEmbeddedTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private OmniStoreClient Open() => OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = _dir.Path });

    [Fact]
    public async Task ListAsync_ListsTheNamesUnderAPrefix_InOrder_AcrossPages_AndAfterAReopen()
    {
        var ct = TestContext.Current.CancellationToken;
        var names = Enumerable.Range(0, 2345).Select(i => $"job/{i:D5}").ToList();
        using (var client = Open())
        {
            foreach (var name in names)
            {
                client.Put(name, new byte[3]);
            }

            client.Put("jobs", [1]);
            client.Put("job/00010", [1, 2]); // rebound: listed once, with its new version
            await client.DeleteAsync("job/00011", ct);
            names.Remove("job/00011");
            var listed = await ListAndWaitTests.ToListAsync(client.ListAsync("job/", ct));
            Assert.Equal(names, listed.Select(e => e.Name));
            Assert.Equal((2L, 2L), (listed[10].Length, listed[10].Version));
        }

        using var reopened = Open();
        Assert.Equal(names.Count + 1, (await ListAndWaitTests.ToListAsync(reopened.ListAsync(cancellationToken: ct))).Count);
        Assert.Equal(names.Count, await reopened.DeletePrefixAsync("job/", ct));
        Assert.Equal(["jobs"], (await ListAndWaitTests.ToListAsync(reopened.ListAsync(cancellationToken: ct))).Select(e => e.Name));
    }

    [Fact]
    public async Task WaitForAsync_ReturnsWhenAPutInThisProcessBindsTheName()
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = Open();
        var waits = Enumerable.Range(0, 8).Select(_ => client.WaitForAsync("later", ct).AsTask()).ToList();
        await Task.Delay(100, ct);
        Assert.DoesNotContain(waits, w => w.IsCompleted);
        await client.PutAsync("later", new byte[42], ct);
        foreach (var info in await Task.WhenAll(waits).WaitAsync(Timeout, ct))
        {
            Assert.Equal(42, info.Length);
        }

        Assert.Equal(42, (await client.WaitForAsync("later", ct)).Length);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.WaitForAsync("never", cancel.Token).AsTask());
        await Assert.ThrowsAsync<OmniStoreException>(() => ListAndWaitTests.ToListAsync(client.ListAsync("bad\nprefix", ct)));
    }
}
