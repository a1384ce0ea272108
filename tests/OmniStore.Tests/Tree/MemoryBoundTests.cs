using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Tree;

/// <summary>
/// Memory is held for bytes received, not bytes announced, and within a connection's limits and the
/// node's budget: each attack here once made a node reserve memory on a peer's word alone.
/// </summary>
public sealed class MemoryBoundTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task FramesAnnouncingLargeChunks_HoldOnlyWhatTheyCarry()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        var root = cluster.Root;
        await using var bystander = await TreeCluster.ConnectAsync(root);
        var data = TestData.Random(3 << 20, 1);
        await bystander.PutAsync("before", data, ct);

        // 256 PUT_CHUNKs, each a first frame announcing a 16 MiB chunk and carrying 20 bytes of it
        // (once, 32 MiB was rented for each: 8 GiB).
        await using var attacker = await RawPeer.ConnectAsync(root.Address.Port, ct);
        var frames = new MemoryStream();
        for (uint i = 0; i < 256; i++)
        {
            frames.Write(RawPeer.Frame(FrameType.PutChunk, (2 * i) + 1, [.. ChunkMessage.Head(default, ChunkLayout.MaxChunkSize), .. new byte[20]], end: false));
        }

        await attacker.SendAsync(frames.ToArray(), ct);
        await Task.Delay(500, ct);
        Assert.True(root.Memory.Used < 1 << 20, $"{root.Memory.Used} bytes held for 256 messages that carried 40 bytes each");
        Assert.Equal(data, await bystander.GetAsync("before", ct).AsTask().WaitAsync(Timeout, ct));
    }

    [Fact]
    public async Task APeerWhoseUnfinishedMessagesPassItsLimit_IsClosed_AndItsMemoryGivenBack()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster { Configure = o => o with { ConnectionReceiveBytes = 16L << 20 } };
        var root = await cluster.StartNodeAsync("root", null);
        await using var bystander = await TreeCluster.ConnectAsync(root);
        var data = TestData.Random(3 << 20, 1);
        await bystander.PutAsync("before", data, ct);

        // 80 PUT_CHUNKs of 1 MiB, each sent but for its last frame: 20 MiB of unfinished messages.
        await using var attacker = await RawPeer.ConnectAsync(root.Address.Port, ct);
        var payload = new byte[ProtocolLimits.MaxFramePayload - ChunkMessage.HeaderSize];
        var frames = new MemoryStream();
        for (uint i = 0; i < 80; i++)
        {
            frames.Write(RawPeer.Frame(FrameType.PutChunk, (2 * i) + 1, [.. ChunkMessage.Head(default, 1 << 20), .. payload], end: false));
        }

        try
        {
            await attacker.SendAsync(frames.ToArray(), ct).WaitAsync(Timeout, ct);
            Assert.True(await attacker.ClosedWithinAsync(Timeout, ct), "the node kept a peer whose unfinished messages passed its limit");
        }
        catch (IOException)
        {
            // The node closed the connection while the rest was still being sent: what is tested.
        }

        var deadline = DateTime.UtcNow + Timeout;
        while (root.Memory.Used > 1 << 20 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, ct);
        }

        Assert.True(root.Memory.Used < 1 << 20, $"{root.Memory.Used} bytes still held after the connection closed");
        Assert.Equal(data, await bystander.GetAsync("before", ct).AsTask().WaitAsync(Timeout, ct));
    }

    [Fact]
    public async Task ResponsesOnStreamsTheNodeNeverOpened_AreAProtocolError_NotBufferedMemory()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var attacker = await RawPeer.ConnectAsync(cluster.Root.Address.Port, ct);

        // The root accepted this connection, so its own requests use even ids: CHUNK "answers" on
        // even ids it never used were once taken as responses, beyond the request cap.
        var frames = new MemoryStream();
        for (uint i = 1; i <= 64; i++)
        {
            frames.Write(RawPeer.Frame(FrameType.Chunk, 1000 + (2 * i), [.. ChunkMessage.Head(default, ChunkLayout.MaxChunkSize), .. new byte[64]], end: false));
        }

        await attacker.SendAsync(frames.ToArray(), ct);
        var answer = await attacker.ReadFrameAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal((byte)FrameType.Error, answer[4]);
        Assert.Contains("never opened", ErrorMessage.Decode(answer.AsSpan(ProtocolLimits.HeaderSize)).Message, StringComparison.Ordinal);
        Assert.True(await attacker.ClosedWithinAsync(Timeout, ct));
        Assert.True(cluster.Root.Memory.Used < 1 << 20, $"{cluster.Root.Memory.Used} bytes held");
    }

    [Fact]
    public async Task APingFlood_FromAPeerThatReadsNothing_QueuesAtMostOnePong()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var attacker = await RawPeer.ConnectAsync(cluster.Root.Address.Port, ct, receiveBuffer: 4096);
        var child = await WaitForChildAsync(cluster.Root, ct);

        var ping = RawPeer.Frame(FrameType.Ping, 0, new byte[PeerConnection.PingPayloadSize]);
        var flood = new MemoryStream();
        for (int i = 0; i < 4096; i++)
        {
            flood.Write(ping);
        }

        var burst = flood.ToArray();
        for (int round = 0; round < 128; round++)
        {
            await attacker.SendAsync(burst, ct).WaitAsync(Timeout, ct);
        }

        await Task.Delay(500, ct);
        Assert.True(child.WaitingSmallSends <= 1, $"{child.WaitingSmallSends} PONGs queued for a peer that reads nothing");
    }

    [Fact]
    public async Task APingLargerThanItsEightBytes_IsAProtocolError()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        await using var attacker = await RawPeer.ConnectAsync(cluster.Root.Address.Port, ct);
        await attacker.SendAsync(RawPeer.Frame(FrameType.Ping, 0, new byte[ProtocolLimits.MaxFramePayload]), ct);
        var answer = await attacker.ReadFrameAsync(ct).WaitAsync(Timeout, ct);
        Assert.Equal((byte)FrameType.Error, answer[4]);
        Assert.True(await attacker.ClosedWithinAsync(Timeout, ct));
    }

    [Fact]
    public async Task UnreadRequestsForLargeChunks_HoldAtMostTheConnectionsSendLimit_AndAFrozenReaderIsClosed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster { Configure = o => o with { SendTimeout = TimeSpan.FromSeconds(3) } };
        var root = await cluster.StartNodeAsync("root", null);
        const int ChunkSize = ChunkLayout.MaxChunkSize;
        var data = TestData.Random(4L * ChunkSize, 2);
        await using var master = await TreeCluster.ConnectAsync(root, new OmniStoreOptions { ChunkSize = ChunkSize });
        await master.PutAsync("big", data, ct);
        var manifest = await root.GetManifestAsync((await master.StatAsync("big", ct))!.ManifestId, ct);

        // 256 requests for 16 MiB chunks, and nothing read.
        await using var attacker = await RawPeer.ConnectAsync(root.Address.Port, ct, receiveBuffer: 4096);
        var requests = new MemoryStream();
        for (uint i = 0; i < 256; i++)
        {
            requests.Write(RawPeer.Frame(FrameType.GetChunk, (2 * i) + 1, ChunkRequests.Encode(manifest.Chunks[(int)(i % 4)], ChunkSize)));
        }

        await attacker.SendAsync(requests.ToArray(), ct);
        await Task.Delay(1000, ct);
        // Buffers of answers held: at most the send limit's worth (two 16 MiB chunks), not one per handler.
        long limit = ConnectionLimits.Default.MaxSendBytes;
        Assert.True(root.AnswerBufferBytes <= limit, $"{root.AnswerBufferBytes} bytes of answer buffers held for a peer that reads nothing (send limit {limit})");
        Assert.True(root.Memory.Used <= limit + (2L << 20), $"{root.Memory.Used} bytes held for a peer that reads nothing (send limit {limit})");

        // Everyone else is served meanwhile.
        await using var worker = await TreeCluster.ConnectAsync(root);
        Assert.Equal(data, await worker.GetAsync("big", ct).AsTask().WaitAsync(Timeout, ct));

        // The frozen reader (still reading nothing) is closed once a send waits past the send
        // timeout, and its memory comes back.
        var deadline = DateTime.UtcNow + Timeout;
        while ((root.Children.Any(c => c.Remote.Site == "raw") || root.Memory.Used > 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, ct);
        }

        Assert.False(root.Children.Any(c => c.Remote.Site == "raw"), "a peer that reads nothing kept its connection");
        Assert.Equal(0, root.Memory.Used);
    }

    /// <summary>
    /// A peer that reads, only slowly (a flow a shared bottleneck starves), is not closed as frozen
    /// though one send takes longer than the send timeout: what counts is whether the peer takes
    /// bytes, not whether a whole batch left. (64 workers on a 100 Mbit/s link lost two this way.)
    /// </summary>
    [Fact]
    public async Task ASlowReader_IsNotClosedAsFrozen_WhileItTakesBytes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster { Configure = o => o with { SendTimeout = TimeSpan.FromSeconds(2) } };
        var root = await cluster.StartNodeAsync("root", null);
        const int ChunkSize = ChunkLayout.MaxChunkSize;
        var data = TestData.Random(ChunkSize, 3);
        await using var master = await TreeCluster.ConnectAsync(root, new OmniStoreOptions { ChunkSize = ChunkSize });
        await master.PutAsync("one-chunk", data, ct);
        var manifest = await root.GetManifestAsync((await master.StatAsync("one-chunk", ct))!.ManifestId, ct);

        await using var slow = await RawPeer.ConnectAsync(root.Address.Port, ct, receiveBuffer: 16 * 1024);
        await slow.SendAsync(RawPeer.Frame(FrameType.GetChunk, 1, ChunkRequests.Encode(manifest.Chunks[0], ChunkSize)), ct);

        // 16 KiB every 100 ms: a 1 MiB batch takes over 6 s to leave, three times the send timeout.
        var buffer = new byte[16 * 1024];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long read = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(8))
        {
            int n = await slow.Stream.ReadAsync(buffer, ct);
            Assert.True(n > 0, $"the node closed a reader that took {read} bytes in {clock.Elapsed.TotalSeconds:0.0} s");
            read += n;
            await Task.Delay(100, ct);
        }

        Assert.Contains(root.Children, c => c.Remote.Site == "raw");

        // Then it reads at full speed and gets the whole chunk.
        var rest = new byte[1 << 20];
        long total = ChunkSize + ProtocolLimits.HeaderSize;
        while (read < total)
        {
            int n = await slow.Stream.ReadAsync(rest, ct).AsTask().WaitAsync(Timeout, ct);
            Assert.True(n > 0, $"closed after {read} bytes");
            read += n;
        }
    }

    [Fact]
    public async Task WhenTheNodeIsOverItsBudget_TheConnectionHoldingUnfinishedMessagesIsClosed_NotTheOthers()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster { Configure = o => o with { MemoryBudget = 48L << 20, ConnectionReceiveBytes = 40L << 20 } };
        var root = await cluster.StartNodeAsync("root", null);
        var data = TestData.Random(8 << 20, 3);
        await using var bystander = await TreeCluster.ConnectAsync(root);
        await bystander.PutAsync("x", data, ct);

        // Each hog stays under its own limit; together they pass the node's budget.
        var hogs = new List<RawPeer>();
        try
        {
            for (int h = 0; h < 4; h++)
            {
                var hog = await RawPeer.ConnectAsync(root.Address.Port, ct);
                hogs.Add(hog);
                var frames = new MemoryStream();
                for (uint i = 0; i < 8; i++)
                {
                    // Half a 1 MiB chunk: past a quarter of it, its buffer is the whole chunk (2 MiB pooled).
                    frames.Write(RawPeer.Frame(FrameType.PutChunk, (2 * i) + 1, [.. ChunkMessage.Head(default, 1 << 20), .. new byte[ProtocolLimits.MaxFramePayload - ChunkMessage.HeaderSize]], end: false));
                    frames.Write(RawPeer.Frame(FrameType.PutChunk, (2 * i) + 1, new byte[ProtocolLimits.MaxFramePayload], end: false));
                }

                await hog.SendAsync(frames.ToArray(), ct);
            }

            await Task.Delay(500, ct);
            Assert.True(root.Memory.Shed > 0, "no connection was closed to keep the node within its budget");
            Assert.True(root.Memory.Used <= (48L << 20) + (4L << 20), $"{root.Memory.Used} bytes held, budget 48 MiB");
            Assert.Equal(data, await bystander.GetAsync("x", ct).AsTask().WaitAsync(Timeout, ct));
        }
        finally
        {
            foreach (var hog in hogs)
            {
                await hog.DisposeAsync();
            }
        }
    }

    private static async Task<PeerConnection> WaitForChildAsync(TreeNode node, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (node.Children.FirstOrDefault(c => c.Remote.Site == "raw") is { } child)
            {
                return child;
            }

            await Task.Delay(20, ct);
        }

        throw new TimeoutException("the raw peer never showed up as a child");
    }
}
