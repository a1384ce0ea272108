using OmniStore.Content;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

/// <summary>
/// GET_OBJECT (protocol version 3): a small object's binding, manifest and bytes in one answer, at
/// the root and through a relay (a miss fetched once, then a hit); what the answer leaves out is
/// fetched as before; a version-2 connection may not send it (docs/protocol.md, "GET_OBJECT").
/// </summary>
public sealed class GetObjectTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ASmallObject_ComesInOneAnswer_WithItsBindingManifestAndBytes(bool throughRelay)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var data = TestData.Random(4096, 7);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("results/small", data, ct);
        }

        var node = throughRelay ? cluster.Relays[0] : cluster.Root;
        await using var peer = await RawPeer.ConnectAsync(node.Address.Port, ct);
        for (uint stream = 1; stream <= 3; stream += 2) // a miss at the relay, then a hit
        {
            await peer.SendAsync(RawPeer.Frame(FrameType.GetObject, stream, ObjectMessages.EncodeRequest("results/small", ObjectMessages.MaxInlineChunk)), ct);
            var answer = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);

            Assert.Equal(FrameType.Object, answer.Type);
            var (binding, manifest, chunk) = ObjectMessages.ReadAnswer(answer.Payload);
            Assert.Equal("results/small", binding.Name);
            Assert.NotNull(manifest);
            Assert.Equal(binding.ManifestId, manifest.Id);
            Assert.Equal(data, answer.Payload[chunk]);
        }
    }

    [Fact]
    public async Task WhatTheAnswerLeavesOut_IsNotSent_AndTheClientFetchesItAsBefore()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var small = TestData.Random(3000, 8);
        var twoChunks = TestData.Random((1 << 20) + 5, 9);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("small", small, ct);
            await master.PutAsync("two-chunks", twoChunks, ct);
        }

        await using var peer = await RawPeer.ConnectAsync(cluster.Relays[0].Address.Port, ct);

        // Asked for fewer inline bytes than the object has: binding and manifest only.
        await peer.SendAsync(RawPeer.Frame(FrameType.GetObject, 1, ObjectMessages.EncodeRequest("small", 2999)), ct);
        var fewer = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        var (_, manifest, chunk) = ObjectMessages.ReadAnswer(fewer.Payload);
        Assert.Equal(3000, manifest!.Length);
        Assert.Equal(0, chunk.End.Value - chunk.Start.Value);

        // An object of two chunks: its manifest, no bytes.
        await peer.SendAsync(RawPeer.Frame(FrameType.GetObject, 3, ObjectMessages.EncodeRequest("two-chunks", ObjectMessages.MaxInlineChunk)), ct);
        var larger = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        (_, manifest, chunk) = ObjectMessages.ReadAnswer(larger.Payload);
        Assert.Equal(2, manifest!.Layout.ChunkCount);
        Assert.Equal(0, chunk.End.Value - chunk.Start.Value);

        // The library reads both, and objects around the inline limit, whole.
        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        Assert.Equal(small, await worker.GetAsync("small", ct));
        Assert.Equal(twoChunks, await worker.GetAsync("two-chunks", ct));
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            foreach (int length in new[] { 0, 1, ObjectMessages.MaxInlineChunk, ObjectMessages.MaxInlineChunk + 1 })
            {
                await master.PutAsync($"edge/{length}", TestData.Random(length, length), ct);
            }
        }

        foreach (int length in new[] { 0, 1, ObjectMessages.MaxInlineChunk, ObjectMessages.MaxInlineChunk + 1 })
        {
            var expected = TestData.Random(length, length);
            Assert.Equal(expected, await worker.GetAsync($"edge/{length}", ct));
            var destination = new byte[length + 10];
            Assert.Equal(length, worker.Get($"edge/{length}", destination));
            Assert.Equal(expected, destination[..length]);
            using var stream = new MemoryStream();
            Assert.Equal(length, await worker.GetAsync($"edge/{length}", stream, ct));
            Assert.Equal(expected, stream.ToArray());
            Assert.Equal(length, (await worker.StatAsync($"edge/{length}", ct))!.Length);
        }

        // A destination too small for the object is refused as before, with no bytes written past it.
        var tooSmall = new byte[10];
        var error = Assert.Throws<OmniStoreException>(() => worker.Get("small", tooSmall));
        Assert.Equal(OmniStoreError.TooSmall, error.Error);
    }

    [Fact]
    public async Task AnUnboundName_IsNotFound()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        await using var peer = await RawPeer.ConnectAsync(cluster.Relays[0].Address.Port, ct);

        await peer.SendAsync(RawPeer.Frame(FrameType.GetObject, 1, ObjectMessages.EncodeRequest("nobody", 100)), ct);
        var answer = await peer.ReadMessageAsync(ct).WaitAsync(Timeout, ct);

        Assert.Equal(FrameType.Error, answer.Type);
        Assert.Equal(OmniStoreError.NotFound, ErrorMessage.Decode(answer.Payload).Error);
        await using var client = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        Assert.Equal(OmniStoreError.NotFound, (await Assert.ThrowsAsync<OmniStoreException>(() => client.GetAsync("nobody", ct).AsTask())).Error);
    }

    [Fact]
    public async Task AVersion2Connection_SendingGetObject_IsRefused_AndItsConnectionServesOn()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        var data = TestData.Random(100, 10);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("small", data, ct);
        }

        await using var old = await RawPeer.ConnectAsync(cluster.Root.Address.Port, ct, maxVersion: 2);
        await old.SendAsync(RawPeer.Frame(FrameType.GetObject, 1, ObjectMessages.EncodeRequest("small", 100)), ct);
        var refused = await old.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Error, refused.Type);
        var error = ErrorMessage.Decode(refused.Payload);
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains("GET_OBJECT is a request of protocol version 3; this connection speaks 2", error.Message, StringComparison.Ordinal);

        // The version-2 requests still work on the same connection.
        await old.SendAsync(RawPeer.Frame(FrameType.Resolve, 3, Names.Encode("small")), ct);
        var resolved = await old.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Binding, resolved.Type);
        var manifestRequest = new byte[ManifestId.Size];
        BindingMessage.Decode(resolved.Payload).ManifestId.Write(manifestRequest);
        await old.SendAsync(RawPeer.Frame(FrameType.GetManifest, 5, manifestRequest), ct);
        var manifest = Manifest.Parse((await old.ReadMessageAsync(ct).WaitAsync(Timeout, ct)).Payload);
        await old.SendAsync(RawPeer.Frame(FrameType.GetChunk, 7, ChunkRequests.Encode(manifest.Chunks[0], data.Length)), ct);
        var chunk = await old.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(data, chunk.Payload[ChunkMessage.HeaderSize..]);
    }
}
