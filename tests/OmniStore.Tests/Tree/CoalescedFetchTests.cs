using System.Net;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>
/// Children that ask a relay for the same missing data share one upstream request. That request
/// belongs to the relay, not to the child that happened to start it: the child leaving must not
/// take the others' answer with it.
/// </summary>
public sealed class CoalescedFetchTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task TwoChildrenCoalescedOnOneMiss_TheFirstDisconnectsMidFetch_TheSecondStillGetsTheChunk()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var proxy = new CountingProxy(new IPEndPoint(IPAddress.Loopback, cluster.Root.Address.Port));
        var relay = await cluster.StartNodeAsync("site0", new NodeAddress("tcp", "127.0.0.1", proxy.Port));

        var data = TestData.Random(100_000, 31);
        await using (var writer = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await writer.PutAsync("coalesced", data, ct);
        }

        var id = ChunkId.Compute(data);
        var request = ChunkRequests.Encode(id, data.Length);
        await using var second = await RawPeer.ConnectAsync(relay.Address.Port, ct);
        using (proxy.HoldDownstream())
        {
            await using (var first = await RawPeer.ConnectAsync(relay.Address.Port, ct))
            {
                await first.SendAsync(RawPeer.Frame(FrameType.GetChunk, 1, request), ct);
                await WaitUntilAsync(() => relay.ChunkFetches.Executions == 1, "the first request went upstream", ct);
                await second.SendAsync(RawPeer.Frame(FrameType.GetChunk, 1, request), ct);
                await WaitUntilAsync(() => relay.ChunkFetches.Joined == 1, "the second request joined the first's fetch", ct);
            }

            // The relay has seen the first child go before the parent's answer arrives.
            await WaitUntilAsync(() => relay.Connections.Open == 1, "the relay saw the first child leave", ct);
        }

        var (type, stream, payload) = await ReadAnswerAsync(second, ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Chunk, type);
        Assert.Equal(1u, stream);
        Assert.Equal(id, ChunkId.Read(payload));
        Assert.Equal(data, payload[ChunkMessage.HeaderSize..]);
        Assert.Equal(1, relay.ChunkFetches.Executions);
    }

    /// <summary>The next message on a request stream (the relay's keep-alive PINGs go by on stream 0).</summary>
    private static async Task<(FrameType Type, uint Stream, byte[] Payload)> ReadAnswerAsync(RawPeer peer, CancellationToken ct)
    {
        while (true)
        {
            var message = await peer.ReadMessageAsync(ct);
            if (message.Stream != 0)
            {
                return message;
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(10, ct);
        }
    }
}
