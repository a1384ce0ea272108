using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

/// <summary>
/// PUT_OBJECT (protocol version 5): a small object's manifest and bytes in one request, stored, bound
/// and made durable at the root, cached and forwarded by a relay (decomposed into PUT_CHUNK,
/// PUT_MANIFEST and BIND for a parent of an older version); a request checked whole before anything
/// is stored (docs/protocol.md, "PUT_OBJECT").
/// </summary>
public sealed class PutObjectTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ASmallPut_IsOneRequest_DurableAtTheRoot()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);
        var data = TestData.Random(4096, 1);
        var counters = ((RemoteObjectService)client.Service).Counters;
        long before = counters.PayloadOut;

        await client.PutAsync("results/1", data, ct).AsTask().WaitAsync(Timeout, ct);

        // Exactly one PUT_OBJECT's bytes went out: its head and the object.
        Assert.Equal(PutObjectMessage.EncodeHead("results/1", TestManifests.Of(data, ChunkLayout.DefaultChunkSize), false).Length + data.Length, counters.PayloadOut - before);
        Assert.Equal(1, cluster.Root.Store.JournaledWrites);
        Assert.Equal(data, await client.GetAsync("results/1", ct));
    }

    [Fact]
    public async Task ASmallSeekableStream_IsOneRequestToo()
    {
        // What `omnistore put FILE` does with a small file.
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);
        var data = TestData.Random(5000, 11);
        var counters = ((RemoteObjectService)client.Service).Counters;
        long before = counters.PayloadOut;

        await client.PutAsync("results/file", new MemoryStream(data), ct).AsTask().WaitAsync(Timeout, ct);

        Assert.Equal(PutObjectMessage.EncodeHead("results/file", TestManifests.Of(data, ChunkLayout.DefaultChunkSize), false).Length + data.Length, counters.PayloadOut - before);
        Assert.Equal(data, await client.GetAsync("results/file", ct));
    }

    [Fact]
    public async Task ThroughARelay_TheRelayCachesIt_AndAnotherSiteReadsIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 2);
        var data = TestData.Random((2 * ChunkLayout.MinChunkSize) + 9, 2);
        await using (var worker = await TreeCluster.ConnectAsync(cluster.Relays[0], new OmniStoreOptions { ChunkSize = ChunkLayout.MinChunkSize }))
        {
            await worker.PutAsync("results/2", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        var manifest = TestManifests.Of(data, ChunkLayout.MinChunkSize);
        foreach (var id in manifest.Chunks)
        {
            Assert.True(await cluster.Relays[0].Store.ContainsChunkAsync(id, ct), "the relay the object went through keeps its chunks");
        }

        await using var master = await TreeCluster.ConnectAsync(cluster.Relays[1]);
        Assert.Equal(data, await master.GetAsync("results/2", ct));
    }

    [Fact]
    public async Task ARelayWhoseParentSpeaksVersion4_PutsItInPieces()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartWithAsync(relays: 1, o => o.Parent is null ? o with { MaxProtocolVersion = 4 } : o);
        var data = TestData.Random(5000, 3);
        await using (var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]))
        {
            await worker.PutAsync("results/3", data, ct).AsTask().WaitAsync(Timeout, ct);
        }

        await using var master = await TreeCluster.ConnectAsync(cluster.Root);
        Assert.Equal(data, await master.GetAsync("results/3", ct));
    }

    [Fact]
    public async Task AClientOfARootThatSpeaksVersion4_PutsItInPieces()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartWithAsync(relays: 0, o => o with { MaxProtocolVersion = 4 });
        await using var client = await TreeCluster.ConnectAsync(cluster.Root);
        var data = TestData.Random(700, 4);
        await client.PutAsync("results/4", data, ct).AsTask().WaitAsync(Timeout, ct);
        Assert.Equal(data, await client.GetAsync("results/4", ct));
    }

    [Fact]
    public async Task BadRequests_AreRefused_NothingIsBound_AndTheConnectionServesOn()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var peer = await RawPeer.ConnectAsync(cluster.Root.Address.Port, ct);
        var data = TestData.Random(3000, 5);
        var manifest = TestManifests.Of(data, ChunkLayout.MinChunkSize);

        // Bytes that do not match the manifest's chunk id.
        var wrong = data.ToArray();
        wrong[100] ^= 1;
        await peer.SendAsync(RawPeer.Frame(FrameType.PutObject, 1, [.. PutObjectMessage.EncodeHead("bad", manifest, false), .. wrong]), ct);
        var refused = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Error, refused.Type);
        Assert.Equal(OmniStoreError.Corrupt, ErrorMessage.Decode(refused.Payload).Error);

        // An object larger than PUT_OBJECT carries (its bytes need not even be sent).
        var large = new Manifest(new ChunkLayout(PutObjectMessage.MaxObject + 1, ChunkLayout.DefaultChunkSize), [ChunkId.Compute([1]), ChunkId.Compute([2])]);
        await peer.SendAsync(RawPeer.Frame(FrameType.PutObject, 3, PutObjectMessage.EncodeHead("large", large, false)), ct);
        refused = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Error, refused.Type);
        Assert.Equal(OmniStoreError.InvalidArgument, ErrorMessage.Decode(refused.Payload).Error);

        Assert.Null(await cluster.Root.Store.ResolveAsync("bad", ct));
        Assert.Null(await cluster.Root.Store.ResolveAsync("large", ct));

        // The same connection puts a good one.
        await peer.SendAsync(RawPeer.Frame(FrameType.PutObject, 5, [.. PutObjectMessage.EncodeHead("good", manifest, false), .. data]), ct);
        var bound = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Binding, bound.Type);
        Assert.Equal(manifest.Id, BindingMessage.Decode(bound.Payload).ManifestId);
    }

    [Fact]
    public async Task AVersion4Connection_MayNotSendIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var old = await RawPeer.ConnectAsync(cluster.Root.Address.Port, ct, maxVersion: 4);
        var data = TestData.Random(10, 6);
        await old.SendAsync(RawPeer.Frame(FrameType.PutObject, 1, [.. PutObjectMessage.EncodeHead("x", TestManifests.Of(data, ChunkLayout.DefaultChunkSize), false), .. data]), ct);
        var refused = await old.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Error, refused.Type);
        Assert.Contains("this connection speaks 4", ErrorMessage.Decode(refused.Payload).Message, StringComparison.Ordinal);
        Assert.Null(await cluster.Root.Store.ResolveAsync("x", ct));
    }
}
