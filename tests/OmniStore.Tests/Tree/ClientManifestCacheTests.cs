using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A Get of a small object is one request (GET_OBJECT, protocol version 3), the first time and
/// every time after, and a re-Put of the name is seen at once; a client keeps the manifests of the
/// small objects it read for nodes that speak version 2 only, and never a large one's.
/// </summary>
public sealed class ClientManifestCacheTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static long Sent(OmniStoreClient client) => ((RemoteObjectService)client.Service).Counters.PayloadOut;

    [Fact]
    public async Task ASmallObject_IsOneRequestEveryTime_AndARePutIsSeenAtOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        await master.PutAsync("result", TestData.Random(4096, 1), ct).AsTask().WaitAsync(Timeout, ct);

        long before = Sent(worker);
        Assert.Equal(TestData.Random(4096, 1), await worker.GetAsync("result", ct).AsTask().WaitAsync(Timeout, ct));
        long first = Sent(worker) - before;
        Assert.Equal(TestData.Random(4096, 1), await worker.GetAsync("result", ct).AsTask().WaitAsync(Timeout, ct));
        long second = Sent(worker) - before - first;

        // GET_OBJECT alone, whose payload is the inline length and the name: no RESOLVE, GET_MANIFEST or GET_CHUNK.
        Assert.Equal(4 + "result".Length, first);
        Assert.Equal(first, second);

        await master.PutAsync("result", TestData.Random(4096, 2), ct).AsTask().WaitAsync(Timeout, ct);
        Assert.Equal(TestData.Random(4096, 2), await worker.GetAsync("result", ct).AsTask().WaitAsync(Timeout, ct));
    }

    [Fact]
    public async Task ALargeObject_IsNotKept()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var client = await TreeCluster.ConnectAsync(cluster.Root, new OmniStoreOptions { ChunkSize = 64 << 10 });
        var data = TestData.Random((RemoteObjectService.ManifestCacheMaxChunks + 1) * (64 << 10), 3);
        await client.PutAsync("large", data, ct).AsTask().WaitAsync(Timeout, ct);

        Assert.Equal(data, await client.GetAsync("large", ct).AsTask().WaitAsync(Timeout, ct));
        Assert.Equal(0, ((RemoteObjectService)client.Service).Manifests.Count);
    }
}
