using System.Net.Sockets;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>Wrong secrets, malformed and oversize frames, invalid names: the peer gets a clear error, everyone else carries on.</summary>
public sealed class ProtocolRobustnessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] Secret = "correct horse battery staple"u8.ToArray();

    [Theory]
    [MemberData(nameof(TreeCluster.PlainTransports), MemberType = typeof(TreeCluster))] // the shared secret: TlsTreeTests has the refusals over TLS
    public async Task WrongOrMissingSecret_IsRefusedWithUnauthorized_AndTheRightOneWorks(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, secret: Secret, transport: transport);
        string uri = cluster.Relays[0].Address.ToString();

        var wrong = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync(uri, new OmniStoreOptions { SharedSecret = "a wrong secret, guessed"u8.ToArray() }, ct));
        Assert.Equal(OmniStoreError.Unauthorized, wrong.Error);
        Assert.Contains("secret", wrong.Message, StringComparison.OrdinalIgnoreCase);

        var missing = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync(uri, new OmniStoreOptions(), ct));
        Assert.Equal(OmniStoreError.Unauthorized, missing.Error);

        await using var good = await OmniStoreClient.ConnectAsync(uri, new OmniStoreOptions { SharedSecret = Secret }, ct);
        await good.PutAsync("x", new byte[] { 1, 2, 3 }, ct);
        Assert.Equal([1, 2, 3], await good.GetAsync("x", ct));
    }

    [Theory]
    [MemberData(nameof(TreeCluster.PlainTransports), MemberType = typeof(TreeCluster))] // the shared secret: TlsTreeTests has the refusals over TLS
    public async Task ClientWithASecret_RefusesANodeWithout(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync(cluster.Root.Address.ToString(), new OmniStoreOptions { SharedSecret = Secret }, ct));
        Assert.Equal(OmniStoreError.Unauthorized, error.Error);
    }

    [Theory]
    [MemberData(nameof(TreeCluster.PlainTransports), MemberType = typeof(TreeCluster))] // the shared secret: TlsTreeTests has the refusals over TLS
    public async Task RelayWithAWrongSecret_CannotReachItsParent_SoItsClientsGetUnavailable(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, secret: Secret, transport: transport);
        await using (var master = await OmniStoreClient.ConnectAsync(cluster.Root.Address.ToString(), new OmniStoreOptions { SharedSecret = Secret }, ct))
        {
            await master.PutAsync("x", new byte[] { 1 }, ct);
        }

        await using var rogue = new TreeCluster { Secret = "another tree's secret"u8.ToArray(), Transport = transport };
        var relay = await rogue.StartNodeAsync("rogue", cluster.Root.Address);
        Assert.Null(relay.Parent!.Current);
        await using var worker = await OmniStoreClient.ConnectAsync(relay.Address.ToString(), new OmniStoreOptions { SharedSecret = "another tree's secret"u8.ToArray() }, ct);
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("x", ct).AsTask());
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
    }

    private static readonly string[] BadFrameKinds = ["unknown-type", "oversize", "garbage-before-hello", "truncated-then-close", "large-payload-truncated-then-close", "response-to-nothing-then-bad-type"];

    public static TheoryData<string, string> BadFrames
    {
        get
        {
            var data = new TheoryData<string, string>();
            // A raw peer writes its frames by hand, and its handshake too: over TLS it would need a
            // certificate's key to sign it, so these run over the plain transports (TLS itself is
            // fed altered and injected bytes in TlsTransportTests).
            foreach (var transport in TransportRegistry.Default.Schemes.Where(t => !TreeCluster.IsTls(t)))
            {
                foreach (var kind in BadFrameKinds)
                {
                    data.Add(transport, kind);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task MalformedInput_ClosesOnlyThatConnection(string transport, string kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        await using var bystander = await TreeCluster.ConnectAsync(cluster.Root);
        var data = TestData.Random(3L << 20, 3);
        await bystander.PutAsync("before", data, ct);

        await using var stream = await TransportStream.ConnectAsync(cluster.Root.Address, ct);
        if (kind != "garbage-before-hello")
        {
            await HandshakeByHandAsync(stream, ct);
        }

        byte[] bad = kind switch
        {
            "unknown-type" => Frame(99, 1, 1, [1, 2, 3]),
            "oversize" => Header(FrameType.PutChunk, 0, 1, ProtocolLimits.MaxFramePayload + 1),
            "garbage-before-hello" => "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(),
            "truncated-then-close" => Frame((byte)FrameType.Resolve, 1, 1, "name"u8.ToArray())[..7],
            "large-payload-truncated-then-close" => Frame((byte)FrameType.PutChunk, 1, 1, TestData.Random(200_000, 4))[..100_000],
            _ => [.. Frame((byte)FrameType.Ok, 1, 2, []), .. Frame(200, 1, 3, [])],
        };
        await stream.WriteAsync(bad, ct);
        if (kind is "truncated-then-close" or "large-payload-truncated-then-close")
        {
            await stream.ShutdownSendAsync();
        }

        // The node answers with an ERROR frame (where it can) and closes this connection.
        var rest = await ReadToEndAsync(stream, ct).WaitAsync(Timeout, ct);
        if (kind is "unknown-type" or "oversize")
        {
            Assert.True(rest.Length >= ProtocolLimits.HeaderSize, "no ERROR frame before closing");
            Assert.Equal((byte)FrameType.Error, rest[4]);
        }

        // Everyone else is unaffected.
        Assert.Equal(data, await bystander.GetAsync("before", ct).AsTask().WaitAsync(Timeout, ct));
        await bystander.PutAsync("after", data, ct);
        Assert.Equal(data, await bystander.GetAsync("after", ct));
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task InvalidNamesOnTheWire_GetInvalidName_AndTheConnectionStaysUsable(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        var counters = new LinkCounters();
        var (link, identity) = await cluster.DialAsync(cluster.Relays[0], counters, ct);
        await using var connection = await PeerConnection.StartAsync(link, link, true, identity, null, counters, null, ct);
        foreach (var name in new[] { Array.Empty<byte>(), "a\nb"u8.ToArray(), new byte[] { 0xff, 0xfe }, new byte[1025].Select(_ => (byte)'x').ToArray() })
        {
            var error = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Resolve, name, ct));
            Assert.Equal(OmniStoreError.InvalidName, error.Error);
        }

        var missing = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Resolve, "fine/but/missing"u8.ToArray(), ct));
        Assert.Equal(OmniStoreError.NotFound, missing.Error);
        Assert.True(connection.IsOpen);
    }

    [Theory]
    [MemberData(nameof(TreeCluster.Transports), MemberType = typeof(TreeCluster))]
    public async Task AChunkWhoseBytesDoNotMatchItsId_IsRefusedAsCorrupt_AndNotStored(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var counters = new LinkCounters();
        var (link, identity) = await cluster.DialAsync(cluster.Root, counters, ct);
        await using var connection = await PeerConnection.StartAsync(link, link, true, identity, null, counters, null, ct);
        var data = TestData.Random(1000, 1);
        var id = OmniStore.Content.ChunkId.Compute(data);
        data[0] ^= 1;
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.PutChunk, ChunkMessage.Head(id, data.Length), data, ct));
        Assert.Equal(OmniStoreError.Corrupt, error.Error);
        Assert.False(await cluster.Root.Store.ContainsChunkAsync(id, ct));
    }

    [Theory]
    [MemberData(nameof(TreeCluster.PlainTransports), MemberType = typeof(TreeCluster))] // a raw peer
    public async Task LargeMessagesArrivingInRaggedPieces_AreReceivedWhole(string transport)
    {
        // Large payloads are received straight into their message once their start has arrived
        // through the input pipe; pieces of every size, frames of every size and interleaved
        // streams must all land in the right place.
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        await using var stream = await TransportStream.ConnectAsync(cluster.Root.Address, ct);
        await HandshakeByHandAsync(stream, ct);

        var random = new Random(11);
        int[] sizes = [70_000, 1 << 20, 300_000, 65_536, (1 << 20) + 17, 40_000];
        var chunks = sizes.Select((size, i) => TestData.Random(size, 100 + i)).ToArray();
        var pending = chunks.Select((data, i) => new Queue<byte[]>(SplitIntoFrames(random, (uint)(2 * i) + 1, data))).ToList();
        var wire = new MemoryStream();
        while (pending.Any(q => q.Count > 0))
        {
            // Streams interleave frame by frame.
            var queue = pending.Where(q => q.Count > 0).ElementAt(random.Next(pending.Count(q => q.Count > 0)));
            wire.Write(queue.Dequeue());
        }

        var bytes = wire.ToArray();
        for (int offset = 0; offset < bytes.Length;)
        {
            int piece = Math.Min(bytes.Length - offset, random.Next(4) == 0 ? random.Next(1, 80) : random.Next(1, 150_000));
            await stream.WriteAsync(bytes.AsMemory(offset, piece), ct);
            await stream.FlushAsync(ct);
            offset += piece;
            if (random.Next(8) == 0)
            {
                await Task.Delay(2, ct);
            }
        }

        for (int i = 0; i < chunks.Length; i++)
        {
            var answer = await ReadFrameAsync(stream, ct).WaitAsync(Timeout, ct);
            Assert.Equal((byte)FrameType.Ok, answer[4]);
        }

        foreach (var data in chunks)
        {
            var id = OmniStore.Content.ChunkId.Compute(data);
            var read = new byte[data.Length];
            Assert.Equal(OmniStore.Storage.ChunkReadStatus.Found, (await cluster.Root.Store.ReadChunkAsync(id, read, ct)).Status);
            Assert.Equal(data, read);
        }
    }

    /// <summary>A PUT_CHUNK message for <paramref name="data"/> as frames of random sizes (tiny, odd, and the largest allowed).</summary>
    private static IEnumerable<byte[]> SplitIntoFrames(Random random, uint streamId, byte[] data)
    {
        var message = ChunkMessage.Head(OmniStore.Content.ChunkId.Compute(data), data.Length).Concat(data).ToArray();
        for (int offset = 0; offset < message.Length;)
        {
            int size = random.Next(3) switch
            {
                0 => random.Next(1, 100),
                1 => random.Next(30_000, 120_000),
                _ => ProtocolLimits.MaxFramePayload,
            };
            size = Math.Min(size, message.Length - offset);
            bool last = offset + size == message.Length;
            yield return Frame((byte)FrameType.PutChunk, last ? (byte)1 : (byte)0, streamId, message[offset..(offset + size)]);
            offset += size;
        }
    }

    [Fact]
    public async Task ASlowReader_CannotMakeTheNodeBufferWithoutBound()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        var data = TestData.Random(64L << 20, 9);
        await using var bystander = await TreeCluster.ConnectAsync(cluster.Root);
        await bystander.PutAsync("big", data, ct);
        var info = await bystander.StatAsync("big", ct);

        // A peer asks for every chunk twice over and reads nothing.
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.ReceiveBufferSize = 64 * 1024;
        await socket.ConnectAsync("127.0.0.1", cluster.Root.Address.Port, ct);
        using var stream = new NetworkStream(socket);
        await HandshakeByHandAsync(stream, ct);
        var manifest = await cluster.Root.GetManifestAsync(info!.ManifestId, ct);
        for (int i = 0; i < 128; i++)
        {
            var request = OmniStore.Node.Requests.ChunkRequests.Encode(manifest.Chunks[i % 64], manifest.Layout.LengthOf(i % 64));
            await stream.WriteAsync(Frame((byte)FrameType.GetChunk, 1, (uint)(2 * i) + 1, request), ct);
        }

        await Task.Delay(1000, ct);
        Assert.InRange(cluster.Root.InFlight, 0, ProtocolLimits.MaxConcurrentHandlers);

        // Meanwhile everyone else is served.
        Assert.Equal(data, await bystander.GetAsync("big", ct).AsTask().WaitAsync(Timeout, ct));

        // And the slow reader still gets every answer, whole.
        long message = ChunkMessage.HeaderSize + (1L << 20);
        long frames = (message + ProtocolLimits.MaxFramePayload - 1) / ProtocolLimits.MaxFramePayload;
        long expected = 128L * ((frames * ProtocolLimits.HeaderSize) + message);
        long received = 0;
        var buffer = new byte[1 << 20];
        while (received < expected)
        {
            int read = await stream.ReadAsync(buffer, ct).AsTask().WaitAsync(Timeout, ct);
            Assert.True(read > 0, "the node closed the slow reader's connection");
            received += read;
        }

        Assert.Equal(expected, received);
    }

    [Fact]
    public async Task ASmallAnswer_WaitsBehindAtMostOneBatchPerLargeAnswer_NotBehindAllOfThem()
    {
        // Large answers go out several frames per send while nothing small waits; a small answer
        // (here a PONG) must still overtake everything not yet sent when it was queued.
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0);
        const int ChunkSize = 4 << 20;
        const int Chunks = 16;
        var data = TestData.Random((long)Chunks * ChunkSize, 12);
        await using var master = await TreeCluster.ConnectAsync(cluster.Root, new OmniStoreOptions { ChunkSize = ChunkSize });
        await master.PutAsync("big", data, ct);
        var manifest = await cluster.Root.GetManifestAsync((await master.StatAsync("big", ct))!.ManifestId, ct);
        Assert.Equal(Chunks, manifest.Chunks.Count);

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.ReceiveBufferSize = 64 * 1024;
        await socket.ConnectAsync("127.0.0.1", cluster.Root.Address.Port, ct);
        using var stream = new NetworkStream(socket);
        await HandshakeByHandAsync(stream, ct);
        for (int i = 0; i < Chunks; i++)
        {
            var request = OmniStore.Node.Requests.ChunkRequests.Encode(manifest.Chunks[i], manifest.Layout.LengthOf(i));
            await stream.WriteAsync(Frame((byte)FrameType.GetChunk, 1, (uint)(2 * i) + 1, request), ct);
        }

        // Nothing is read until the node's socket buffers are full and its senders wait.
        await Task.Delay(500, ct);
        await stream.WriteAsync(Frame((byte)FrameType.Ping, 1, 0, "are you?"u8.ToArray()), ct);
        await Task.Delay(300, ct); // for the node to read the PING and queue its answer

        long chunkBytesBeforePong = -1;
        long chunkBytes = 0;
        int ended = 0;
        while (ended < Chunks || chunkBytesBeforePong < 0)
        {
            var frame = await ReadFrameAsync(stream, ct).WaitAsync(Timeout, ct);
            if (frame[4] == (byte)FrameType.Pong)
            {
                chunkBytesBeforePong = chunkBytes;
                continue;
            }

            Assert.Equal((byte)FrameType.Chunk, frame[4]);
            chunkBytes += frame.Length - ProtocolLimits.HeaderSize;
            ended += frame[5] & (byte)FrameFlags.End;
        }

        // Ahead of the PONG: what the kernel held (the node's send buffer at its largest, this
        // socket's receive buffer, and 2 MiB for the kernel counting buffers by their allocation
        // rather than their payload), the batch being sent, one frame from each other waiting
        // answer. Sending whole answers instead would put 7 answers (28 MiB) ahead of it.
        long kernel = SendBufferMax() + (2 * socket.ReceiveBufferSize) + (2 << 20);
        long bound = kernel + PeerConnection.MaxGatheredBatch + (ProtocolLimits.MaxConcurrentHandlers * ProtocolLimits.MaxFramePayload);
        Assert.True(bound < (ProtocolLimits.MaxConcurrentHandlers - 1) * (long)ChunkSize, $"the bound {bound} must be below what whole answers would put ahead");
        Assert.True(chunkBytesBeforePong <= bound, $"{chunkBytesBeforePong} bytes of chunks came before the PONG; at most {bound} should have");
    }

    /// <summary>The largest send buffer TCP autotuning gives a socket (Linux: the third value of tcp_wmem).</summary>
    private static long SendBufferMax()
    {
        const string Path = "/proc/sys/net/ipv4/tcp_wmem";
        return File.Exists(Path) ? long.Parse(File.ReadAllText(Path).Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[2], System.Globalization.CultureInfo.InvariantCulture) : 4 << 20;
    }

    private static async Task HandshakeByHandAsync(Stream stream, CancellationToken ct)
    {
        using var key = NodeIdentity.Create();
        var hello = new HelloMessage(ProtocolLimits.MinVersion, ProtocolLimits.MaxVersion, key.Id, NodeRole.Client, "test", Handshake.NewNonce(), false, []).Encode();
        await stream.WriteAsync(Frame((byte)FrameType.Hello, 1, 0, hello), ct);
        var answer = await ReadFrameAsync(stream, ct);
        Assert.Equal((byte)FrameType.Hello, answer[4]);
        await stream.WriteAsync(Frame((byte)FrameType.Auth, 1, 0, Handshake.SignAuth(key, hello, answer.AsSpan(ProtocolLimits.HeaderSize), [], [])), ct);
        Assert.Equal((byte)FrameType.Ready, (await ReadFrameAsync(stream, ct))[4]);
    }

    private static async Task<byte[]> ReadFrameAsync(Stream stream, CancellationToken ct)
    {
        var header = new byte[ProtocolLimits.HeaderSize];
        await stream.ReadExactlyAsync(header, ct);
        int length = BitConverter.ToInt32(header, 0);
        var rest = new byte[length - 8];
        await stream.ReadExactlyAsync(rest, ct);
        return [.. header, .. rest];
    }

    private static async Task<byte[]> ReadToEndAsync(Stream stream, CancellationToken ct)
    {
        var sink = new MemoryStream();
        try
        {
            await stream.CopyToAsync(sink, ct);
        }
        catch (IOException)
        {
            // A reset is as good as a close here.
        }

        return sink.ToArray();
    }

    private static byte[] Header(FrameType type, byte flags, uint stream, int payloadLength)
    {
        var bytes = new byte[ProtocolLimits.HeaderSize];
        new FrameHeader(type, (FrameFlags)flags, stream, payloadLength).Write(bytes);
        return bytes;
    }

    private static byte[] Frame(byte type, byte flags, uint stream, byte[] payload)
    {
        var bytes = new byte[ProtocolLimits.HeaderSize + payload.Length];
        new FrameHeader(FrameType.Resolve, (FrameFlags)flags, stream, payload.Length).Write(bytes);
        bytes[4] = type;
        payload.CopyTo(bytes, ProtocolLimits.HeaderSize);
        return bytes;
    }
}
