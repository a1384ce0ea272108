using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A relay that misses a chunk streams it to its children while it arrives from its parent
/// (docs/architecture.md, "Cut-through on a miss"): every child that asks reads the one buffer of
/// the one fetch, none ever gets bytes that do not match the id as a chunk, and a fetch that fails
/// caches nothing.
/// </summary>
public sealed class CutThroughTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int ChunkSize = 1 << 20;
    private readonly TempDirectory _dir = new("omnistore-cutthrough");
    private readonly List<IAsyncDisposable> _owned = [];

    [Fact]
    public async Task AChild_ReceivesTheFirstFramesOfAMissedChunk_BeforeTheParentSendsTheRest()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(ChunkSize, 1);
        var id = ChunkId.Compute(data);
        var body = new GatedBody(data, open: ChunkSize / 2);
        var (parent, relay) = await StartAsync(ask => ask.RespondAsync(body), ct);

        await using var child = await RawPeer.ConnectAsync(relay.Address.Port, ct);
        await child.SendAsync(RawPeer.Frame(FrameType.GetChunk, 1, ChunkRequests.Encode(id, data.Length)), ct);
        await body.Paused.WaitAsync(Timeout, ct);

        // The parent has sent half the chunk and waits: the child already has the first frames.
        var first = await child.ReadFrameAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal((byte)FrameType.Chunk, first[4]);
        Assert.Equal(0, first[5] & (byte)FrameFlags.End);
        var received = new List<byte>(first.AsSpan(ProtocolLimits.HeaderSize).ToArray());
        Assert.Equal(ChunkMessage.Head(id, data.Length), received.Take(ChunkMessage.HeaderSize).ToArray());

        body.Open();
        while (true)
        {
            var frame = await child.ReadFrameAsync(ct).WaitAsync(Timeout, ct);
            Assert.Equal((byte)FrameType.Chunk, frame[4]);
            received.AddRange(frame.AsSpan(ProtocolLimits.HeaderSize).ToArray());
            if ((frame[5] & (byte)FrameFlags.End) != 0)
            {
                break;
            }
        }

        Assert.Equal([.. ChunkMessage.Head(id, data.Length), .. data], received.ToArray());
        Assert.Equal(1, parent.ChunkRequests);
        await WaitUntilAsync(() => relay.Store.ContainsChunkAsync(id, ct).AsTask(), ct);
    }

    [Fact]
    public async Task ChildrenThatAskWhileAChunkArrives_AllStreamFromTheOneFetch_AndItIsCachedOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(ChunkSize, 2);
        var id = ChunkId.Compute(data);
        var body = new GatedBody(data, open: ChunkSize / 2);
        var (parent, relay) = await StartAsync(ask => ask.RespondAsync(body), ct);

        var children = new List<PeerConnection>();
        for (int i = 0; i < 4; i++)
        {
            children.Add(await ConnectChildAsync(relay, ct));
        }

        var first = AskAsync(children[0], id, data.Length, ct);
        await body.Paused.WaitAsync(Timeout, ct);
        var others = children.Skip(1).Select(c => AskAsync(c, id, data.Length, ct)).ToList();
        await WaitUntilAsync(() => Task.FromResult(relay.ChunkFetches.Joined >= 3), ct);
        body.Open();

        foreach (var answer in await Task.WhenAll(others.Prepend(first)).WaitAsync(Timeout, ct))
        {
            Assert.Equal(data, answer);
        }

        Assert.Equal(1, parent.ChunkRequests);
        Assert.Equal(1, relay.ChunkFetches.Executions);

        // Every share given up: the buffer went back, and the parent connection holds nothing.
        await WaitUntilAsync(() => Task.FromResult(relay.Parent!.Current!.ReceiveHeld == 0), ct);
        Assert.True(await relay.Store.ContainsChunkAsync(id, ct));
    }

    [Fact]
    public async Task AParentThatAnswersNotFound_AfterAChildJoinedTheFetch_FailsEveryChildWithNotFound()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = ChunkId.Compute(TestData.Random(ChunkSize, 3));
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (parent, relay) = await StartAsync(async ask =>
        {
            await answer.Task;
            throw new OmniStoreException(OmniStoreError.NotFound, "No such chunk here.");
        }, ct);

        var a = await ConnectChildAsync(relay, ct);
        var b = await ConnectChildAsync(relay, ct);
        var first = AskAsync(a, id, ChunkSize, ct);
        await WaitUntilAsync(() => Task.FromResult(parent.ChunkRequests == 1), ct);
        var joined = AskAsync(b, id, ChunkSize, ct);
        await WaitUntilAsync(() => Task.FromResult(relay.ChunkFetches.Joined == 1), ct);
        answer.SetResult();

        Assert.Equal(OmniStoreError.NotFound, (await Assert.ThrowsAsync<OmniStoreException>(() => first)).Error);
        Assert.Equal(OmniStoreError.NotFound, (await Assert.ThrowsAsync<OmniStoreException>(() => joined)).Error);
        Assert.Equal(1, parent.ChunkRequests);
    }

    [Fact]
    public async Task AParentLostMidChunk_FailsItsChildrenWithUnavailable_AndAnAskOnceItIsBackGetsTheChunk()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(ChunkSize, 4);
        var id = ChunkId.Compute(data);
        var body = new GatedBody(data, open: ChunkSize / 2);
        ScriptedParent? scripted = null;
        var (parent, relay) = await StartAsync(async ask =>
        {
            if (scripted!.ChunkRequests == 1)
            {
                await ask.RespondAsync(body);
            }
            else
            {
                await ask.RespondAsync(data);
            }
        }, ct);
        scripted = parent;

        var a = await ConnectChildAsync(relay, ct);
        var b = await ConnectChildAsync(relay, ct);
        var first = AskAsync(a, id, data.Length, ct);
        await body.Paused.WaitAsync(Timeout, ct);
        var joined = AskAsync(b, id, data.Length, ct);
        await WaitUntilAsync(() => Task.FromResult(relay.ChunkFetches.Joined == 1), ct);
        await parent.DropConnectionsAsync();

        Assert.Equal(OmniStoreError.Unavailable, (await Assert.ThrowsAsync<OmniStoreException>(() => first).WaitAsync(Timeout, ct)).Error);
        Assert.Equal(OmniStoreError.Unavailable, (await Assert.ThrowsAsync<OmniStoreException>(() => joined).WaitAsync(Timeout, ct)).Error);
        Assert.False(await relay.Store.ContainsChunkAsync(id, ct));

        // The relay reconnects; the same child asks again and gets the chunk.
        Assert.Equal(data, await AskOnceServedAsync(a, id, data.Length, ct));
        Assert.Equal(2, parent.ChunkRequests);
    }

    [Fact]
    public async Task AParentThatSendsBytesNotMatchingTheId_GetsItsChildrenCorrupt_CachesNothing_AndIsAskedAgainLater()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(ChunkSize, 5);
        var id = ChunkId.Compute(data);
        var bad = (byte[])data.Clone();
        bad[^1] ^= 0xFF; // only the last frame differs: the first ones have gone out when the check fails
        var body = new GatedBody(bad, open: ChunkSize / 2);
        ScriptedParent? scripted = null;
        var (parent, relay) = await StartAsync(ask => scripted!.ChunkRequests == 1 ? ask.RespondAsync(body) : ask.RespondAsync(data), ct);
        scripted = parent;

        // A child that reads frames: it gets the first ones, then an ERROR in place of the rest.
        await using var raw = await RawPeer.ConnectAsync(relay.Address.Port, ct);
        var joining = await ConnectChildAsync(relay, ct);
        await raw.SendAsync(RawPeer.Frame(FrameType.GetChunk, 1, ChunkRequests.Encode(id, data.Length)), ct);
        await body.Paused.WaitAsync(Timeout, ct);
        var joined = AskAsync(joining, id, data.Length, ct);
        await WaitUntilAsync(() => Task.FromResult(relay.ChunkFetches.Joined == 1), ct);
        body.Open();

        var frames = new List<byte[]>();
        do
        {
            frames.Add(await raw.ReadFrameAsync(ct).WaitAsync(Timeout, ct));
        }
        while ((frames[^1][5] & (byte)FrameFlags.End) == 0);
        Assert.True(frames.Count > 1, "the first frames should have gone out before the check");
        Assert.All(frames[..^1], f => Assert.Equal((byte)FrameType.Chunk, f[4]));
        Assert.Equal((byte)FrameType.Error, frames[^1][4]);
        Assert.Equal(OmniStoreError.Corrupt, ErrorMessage.Decode(frames[^1].AsSpan(ProtocolLimits.HeaderSize).ToArray()).Error);

        Assert.Equal(OmniStoreError.Corrupt, (await Assert.ThrowsAsync<OmniStoreException>(() => joined).WaitAsync(Timeout, ct)).Error);
        Assert.Equal(1, relay.CorruptFetches);
        Assert.False(await relay.Store.ContainsChunkAsync(id, ct));

        // Nothing was kept: the next ask goes to the parent again, which now sends the right bytes.
        Assert.Equal(data, await AskAsync(joining, id, data.Length, ct).WaitAsync(Timeout, ct));
        Assert.Equal(2, parent.ChunkRequests);
    }

    [Theory]
    [InlineData(-1000)]
    [InlineData(1000)]
    public async Task AParentThatSendsAnotherNumberOfBytesThanAsked_IsAProtocolError_AndNothingIsCached(int extra)
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(ChunkSize, 6);
        var id = ChunkId.Compute(data);
        var wrong = new byte[ChunkSize + extra];
        data.AsSpan(0, Math.Min(data.Length, wrong.Length)).CopyTo(wrong);
        ScriptedParent? scripted = null;
        var (parent, relay) = await StartAsync(ask => scripted!.ChunkRequests == 1 ? ask.RespondAsync(wrong) : ask.RespondAsync(data), ct);
        scripted = parent;

        var child = await ConnectChildAsync(relay, ct);
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => AskAsync(child, id, data.Length, ct)).WaitAsync(Timeout, ct);
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.False(await relay.Store.ContainsChunkAsync(id, ct));

        Assert.Equal(data, await AskOnceServedAsync(child, id, data.Length, ct));

        // Too many bytes close the link (after telling the parent why): an ask that reached the
        // parent on it meanwhile was lost with it, and asked again on the next link.
        Assert.InRange(parent.ChunkRequests, 2, extra > 0 ? 3 : 2);
    }

    [Fact]
    public async Task AFrozenChild_DoesNotHoldBackAnotherChildReadingTheSameChunk()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(ChunkLayout.MaxChunkSize, 8); // more than the sockets between them hold
        var id = ChunkId.Compute(data);
        var body = new GatedBody(data, open: 1 << 20);
        var (parent, relay) = await StartAsync(ask => ask.RespondAsync(body), ct);

        // The frozen child asks first (it starts the fetch) and never reads.
        await using var frozen = await RawPeer.ConnectAsync(relay.Address.Port, ct, receiveBuffer: 4096);
        await frozen.SendAsync(RawPeer.Frame(FrameType.GetChunk, 1, ChunkRequests.Encode(id, data.Length)), ct);
        await body.Paused.WaitAsync(Timeout, ct);
        var reader = await ConnectChildAsync(relay, ct);
        var read = AskAsync(reader, id, data.Length, ct);
        await WaitUntilAsync(() => Task.FromResult(relay.ChunkFetches.Joined == 1), ct);
        body.Open();

        Assert.Equal(data, await read.WaitAsync(Timeout, ct));
        Assert.Equal(1, parent.ChunkRequests);
        Assert.Equal(1, relay.InFlight); // the frozen child's answer is still on its way
    }

    [Fact]
    public async Task AChildThatCancels_StopsWaitingForTheChunk_AndGivesUpItsShare()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(ChunkSize, 9);
        var id = ChunkId.Compute(data);
        var body = new GatedBody(data, open: ChunkSize / 2);
        var (parent, relay) = await StartAsync(ask => ask.RespondAsync(body), ct);

        var child = await ConnectChildAsync(relay, ct);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var asked = AskAsync(child, id, data.Length, cancel.Token);
        await body.Paused.WaitAsync(Timeout, ct);
        await WaitUntilAsync(() => Task.FromResult(relay.InFlight == 1), ct);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => asked);

        // The relay's handler stops waiting while the chunk is still arriving.
        await WaitUntilAsync(() => Task.FromResult(relay.InFlight == 0), ct);

        // The fetch carries on for the cache; once it is done, its buffer goes back.
        body.Open();
        await WaitUntilAsync(() => relay.Store.ContainsChunkAsync(id, ct).AsTask(), ct);
        await WaitUntilAsync(() => Task.FromResult(relay.Parent!.Current!.ReceiveHeld == 0), ct);
        Assert.Equal(data, await AskAsync(child, id, data.Length, ct).WaitAsync(Timeout, ct));
        Assert.Equal(1, parent.ChunkRequests);
    }

    [Fact]
    public async Task AChildOfAnOlderVersion_GetsAMissedChunkOnlyOnceChecked_AndCorruptAsAnErrorAlone()
    {
        var ct = TestContext.Current.CancellationToken;
        var data = TestData.Random(ChunkSize, 10);
        var id = ChunkId.Compute(data);
        var bad = (byte[])data.Clone();
        bad[^1] ^= 0xFF;
        var body = new GatedBody(bad, open: ChunkSize / 2);
        var (parent, relay) = await StartAsync(ask => ask.RespondAsync(body), ct);

        await using var old = await RawPeer.ConnectAsync(relay.Address.Port, ct, maxVersion: 3);
        await old.SendAsync(RawPeer.Frame(FrameType.GetChunk, 1, ChunkRequests.Encode(id, data.Length)), ct);
        await body.Paused.WaitAsync(Timeout, ct);
        var next = old.ReadFrameAsync(ct);
        await Task.Delay(200, ct);
        Assert.False(next.IsCompleted, "a version-3 child must not get frames of a chunk not yet checked");
        body.Open();

        var frame = await next.WaitAsync(Timeout, ct);
        Assert.Equal((byte)FrameType.Error, frame[4]);
        Assert.Equal(OmniStoreError.Corrupt, ErrorMessage.Decode(frame.AsSpan(ProtocolLimits.HeaderSize).ToArray()).Error);
        Assert.Equal(1, parent.ChunkRequests);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task<(ScriptedParent Parent, TreeNode Relay)> StartAsync(Func<ScriptedParent.ChunkAsk, Task> onChunk, CancellationToken ct)
    {
        var parent = ScriptedParent.Start();
        parent.OnChunk = onChunk;
        _owned.Add(parent);
        var relay = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Parent = parent.Address,
            Site = "relay",
            DataDirectory = _dir.Sub("relay"),
            CacheSize = 256L << 20,
        }, ct);
        _owned.Add(relay);
        Assert.NotNull(relay.Parent!.Current);
        return (parent, relay);
    }

    private async Task<PeerConnection> ConnectChildAsync(TreeNode relay, CancellationToken ct)
    {
        var connection = await RelayMissLimitTests.ConnectRawAsync(relay, ct);
        _owned.Add(connection);
        return connection;
    }

    /// <summary>Asks for a chunk and returns its bytes, checked against the id as every client does.</summary>
    private static async Task<byte[]> AskAsync(PeerConnection child, ChunkId id, int length, CancellationToken ct)
    {
        using var answer = await child.RequestAsync(FrameType.GetChunk, ChunkRequests.Encode(id, length), ct);
        var (received, data) = ChunkMessage.Read(answer);
        Assert.Equal(id, received);
        return data.ToArray();
    }

    /// <summary>Asks until the relay has a parent to ask again (it answers Unavailable meanwhile).</summary>
    private static async Task<byte[]> AskOnceServedAsync(PeerConnection child, ChunkId id, int length, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            try
            {
                return await AskAsync(child, id, length, ct).WaitAsync(Timeout, ct);
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Unavailable && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, ct);
            }
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the condition");
            await Task.Delay(10, ct);
        }
    }
}
