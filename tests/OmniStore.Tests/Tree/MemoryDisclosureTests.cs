using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A chunk is answered with its stored bytes only: a request that names another length, or a
/// manifest that lies about a chunk's length, never gets the rest of a pooled buffer.
/// </summary>
public sealed class MemoryDisclosureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetChunk_WithALengthOtherThanTheStoredOne_IsRefused_AndLeaksNothing(bool throughRelay)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var node = throughRelay ? cluster.Relays[0] : cluster.Root;

        // Another client's object passes through the node's pooled buffers first.
        var secret = Enumerable.Repeat((byte)0x5A, 4 << 20).ToArray();
        await using (var other = await TreeCluster.ConnectAsync(node))
        {
            await other.PutAsync("someone-elses", secret, ct);
            Assert.Equal(secret, await other.GetAsync("someone-elses", ct));
        }

        await using var attacker = await RawPeer.ConnectAsync(node.Address.Port, ct);
        var one = "A"u8.ToArray();
        var id = ChunkId.Compute(one);
        await attacker.SendAsync(RawPeer.Frame(FrameType.PutChunk, 1, [.. ChunkMessage.Head(id, 1), .. one]), ct);
        var stored = await attacker.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Ok, stored.Type);

        foreach (int asked in new[] { 131_072, 2, ChunkLayout.MaxChunkSize })
        {
            await attacker.SendAsync(RawPeer.Frame(FrameType.GetChunk, 3, ChunkRequests.Encode(id, asked)), ct);
            var answer = await attacker.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
            Assert.True(answer.Type == FrameType.Error, $"asking {asked} bytes of a 1-byte chunk got a {answer.Type} of {answer.Payload.Length} bytes");
            var error = ErrorMessage.Decode(answer.Payload);
            Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
            Assert.Contains("1 bytes", error.Message, StringComparison.Ordinal);
        }

        // The right length is answered with exactly the chunk.
        await attacker.SendAsync(RawPeer.Frame(FrameType.GetChunk, 5, ChunkRequests.Encode(id, 1)), ct);
        var chunk = await attacker.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Chunk, chunk.Type);
        Assert.Equal([.. ChunkMessage.Head(id, 1), .. one], chunk.Payload);
    }

    [Fact]
    public async Task AChildAskingWithAWrongLength_DoesNotFailAnotherChildsRequestForTheSameChunk()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1);
        var data = TestData.Random(1 << 20, 21);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("shared", data, ct);
        }

        var id = ChunkId.Compute(data);
        await using var attacker = await RawPeer.ConnectAsync(cluster.Relays[0].Address.Port, ct);
        await using var honest = await RawPeer.ConnectAsync(cluster.Relays[0].Address.Port, ct);
        for (uint i = 0; i < 8; i++)
        {
            await attacker.SendAsync(RawPeer.Frame(FrameType.GetChunk, (2 * i) + 1, ChunkRequests.Encode(id, data.Length + 1 + (int)i)), ct);
        }

        await honest.SendAsync(RawPeer.Frame(FrameType.GetChunk, 1, ChunkRequests.Encode(id, data.Length)), ct);
        var answer = await honest.ReadMessageAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Chunk, answer.Type);
        Assert.Equal(data, answer.Payload[ChunkMessage.HeaderSize..]);
    }

    [Fact]
    public async Task ABroadcastOfAManifestThatLiesAboutAChunksLength_SendsNoPooledMemoryDown()
    {
        var ct = TestContext.Current.CancellationToken;
        // The relay below the root is the observer (a script, so the root takes relays at their
        // word here): it reads every PUSH_CHUNK it is sent.
        await using var cluster = new TreeCluster { AcceptRelaysWithoutSecret = true };
        var root = await cluster.StartNodeAsync("root", null);
        await using var relay = await RawPeer.ConnectAsync(root.Address.Port, ct, NodeRole.Relay);
        var observed = new List<byte[]>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reader = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var message = await relay.ReadMessageAsync(stop.Token);
                    lock (observed)
                    {
                        observed.Add(message.Payload);
                    }

                    if (message.Type is FrameType.PushChunk or FrameType.Update)
                    {
                        await relay.SendAsync(RawPeer.Frame(FrameType.Ok, message.Stream, []), stop.Token);
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or EndOfStreamException)
            {
            }
        }, CancellationToken.None);

        await using var master = await RawPeer.ConnectAsync(root.Address.Port, ct);
        var one = "A"u8.ToArray();
        var id = ChunkId.Compute(one);
        await master.SendAsync(RawPeer.Frame(FrameType.PutChunk, 1, [.. ChunkMessage.Head(id, 1), .. one]), ct);
        Assert.Equal(FrameType.Ok, (await master.ReadMessageAsync(ct).WaitAsync(Timeout, ct)).Type);

        // The manifest says the one chunk has 64 KiB.
        var liar = new Manifest(new ChunkLayout(ChunkLayout.MinChunkSize, ChunkLayout.MinChunkSize), [id]);
        await master.SendAsync(RawPeer.Frame(FrameType.PutManifest, 3, liar.ToBytes()), ct);
        Assert.Equal(FrameType.Ok, (await master.ReadMessageAsync(ct).WaitAsync(Timeout, ct)).Type);
        await master.SendAsync(RawPeer.Frame(FrameType.Bind, 5, new BindMessage("liar", liar.Id, Broadcast: true).Encode()), ct);
        await master.ReadMessageAsync(ct).WaitAsync(Timeout, ct);

        await stop.CancelAsync();
        await reader.WaitAsync(Timeout, ct);
        lock (observed)
        {
            foreach (var payload in observed.Where(p => p.Length >= ChunkMessage.HeaderSize && ChunkId.Read(p) == id))
            {
                int declared = BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(ChunkId.Size));
                Assert.True(payload.Length - ChunkMessage.HeaderSize <= 1, $"a PUSH_CHUNK of the 1-byte chunk carried {payload.Length - ChunkMessage.HeaderSize} bytes (declared {declared})");
            }
        }
    }
}
