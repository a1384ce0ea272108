using System.Diagnostics;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>
/// Connections that hold a node's resources without using them: idle handshaken connections,
/// bytes trickled inside a frame, messages started and never finished, many connections from one
/// address, connects that never handshake. Each is closed or refused, and legitimate peers carry on.
/// </summary>
public sealed class ConnectionLimitTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("omnistore-limits");
    private readonly List<TreeNode> _nodes = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task<TreeNode> StartRootAsync(Func<TreeNodeOptions, TreeNodeOptions>? configure = null)
    {
        var options = new TreeNodeOptions
        {
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Site = "root",
            DataDirectory = _dir.Sub($"root-{Guid.NewGuid():N}"),
        };
        var node = await TreeNode.StartAsync(configure is null ? options : configure(options));
        _nodes.Add(node);
        return node;
    }

    private static Task<OmniStoreClient> ConnectClientAsync(TreeNode node, CancellationToken ct) =>
        OmniStoreClient.ConnectAsync(node.Address.ToString(), new OmniStoreOptions(), ct);

    private static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? Timeout);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task IdleHandshakenConnections_AreClosedAfterTheIdleTimeout_WhileAnIdleClientStaysConnected()
    {
        var ct = TestContext.Current.CancellationToken;
        var idleTimeout = TimeSpan.FromSeconds(1.5);
        var node = await StartRootAsync(o => o with { KeepAliveInterval = TimeSpan.FromMilliseconds(300), IdleTimeout = idleTimeout });
        await using var client = await ConnectClientAsync(node, ct);
        await client.PutAsync("kept", new byte[] { 1, 2, 3 }, ct);
        await WaitUntilAsync(() => node.Children.Count == 1, "the node holds the client");
        var clientConnection = Assert.Single(node.Children);

        // The attack: connections that complete the handshake, then say nothing, ever.
        var idle = new List<RawSocketPeer>();
        try
        {
            for (int i = 0; i < 20; i++)
            {
                idle.Add(await RawSocketPeer.HandshakenAsync(node.Address.Port, cancellationToken: ct));
            }

            await WaitUntilAsync(() => node.Children.Count == 21, "the node holds all 21"); // it registers a child just after sending READY
            var watch = Stopwatch.StartNew();
            await Task.WhenAll(idle.Select(peer => peer.WaitForCloseAsync(TimeSpan.FromSeconds(10), ct)));
            Assert.True(watch.Elapsed >= idleTimeout - TimeSpan.FromMilliseconds(300), $"closed after {watch.Elapsed}, before the idle timeout");
        }
        finally
        {
            idle.ForEach(peer => peer.Dispose());
        }

        await WaitUntilAsync(() => node.Children.Count == 1, "only the client is left");
        Assert.Equal(20, node.Connections.TimedOut);

        // The client, idle all along and for twice the timeout more, answered the node's PINGs:
        // it is still on the same connection, and it works.
        await Task.Delay(2 * idleTimeout, ct);
        Assert.Same(clientConnection, Assert.Single(node.Children));
        Assert.Equal([1, 2, 3], await client.GetAsync("kept", ct).AsTask().WaitAsync(Timeout, ct));
        await client.PutAsync("after", new byte[] { 4 }, ct);
        Assert.Same(clientConnection, Assert.Single(node.Children));
        Assert.True(clientConnection.IsOpen);
    }

    [Fact]
    public async Task TricklingOneByteASecondInsideAFrame_ClosesTheConnectionAfterTheIdleTimeout()
    {
        var ct = TestContext.Current.CancellationToken;
        var idleTimeout = TimeSpan.FromSeconds(2);
        var node = await StartRootAsync(o => o with { KeepAliveInterval = TimeSpan.FromMilliseconds(500), IdleTimeout = idleTimeout });
        await using var bystander = await ConnectClientAsync(node, ct);

        using var peer = await RawSocketPeer.HandshakenAsync(node.Address.Port, cancellationToken: ct);

        // A RESOLVE frame announcing 100 bytes of payload, which then arrive one per second: the
        // node hears from the peer every second, but never a whole frame.
        await peer.WriteAsync(RawSocketPeer.Header(FrameType.Resolve, FrameFlags.End, 1, 100), ct);
        var closed = peer.WaitForCloseAsync(TimeSpan.FromSeconds(12), ct);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 12 && !closed.IsCompleted; i++)
        {
            try
            {
                await peer.WriteAsync([(byte)'a'], ct);
            }
            catch (IOException)
            {
                break; // the node closed it
            }

            await Task.WhenAny(closed, Task.Delay(1000, ct));
        }

        await closed; // throws if the node kept it open
        Assert.InRange(watch.Elapsed, idleTimeout - TimeSpan.FromMilliseconds(500), idleTimeout + TimeSpan.FromSeconds(3));

        await bystander.PutAsync("x", new byte[] { 1 }, ct);
        Assert.Equal([1], await bystander.GetAsync("x", ct));
    }

    [Fact]
    public async Task AMessageStartedAndNeverFinished_ClosesTheConnection_EvenWhileThePeerSendsPings()
    {
        var ct = TestContext.Current.CancellationToken;
        var idleTimeout = TimeSpan.FromSeconds(2);
        var node = await StartRootAsync(o => o with { KeepAliveInterval = TimeSpan.FromMilliseconds(500), IdleTimeout = idleTimeout });
        using var peer = await RawSocketPeer.HandshakenAsync(node.Address.Port, cancellationToken: ct);

        // The first frame of a PUT_CHUNK (no END), then only PINGs: whole frames keep coming, the
        // message never does.
        var id = OmniStore.Content.ChunkId.Compute(new byte[1 << 20]);
        await peer.WriteAsync(RawSocketPeer.Frame(FrameType.PutChunk, FrameFlags.None, 1, [.. ChunkMessage.Head(id, 1 << 20), .. new byte[1000]]), ct);
        var closed = peer.WaitForCloseAsync(TimeSpan.FromSeconds(12), ct);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 40 && !closed.IsCompleted; i++)
        {
            try
            {
                await peer.WriteAsync(RawSocketPeer.Frame(FrameType.Ping, FrameFlags.End, 0, new byte[8]), ct);
            }
            catch (IOException)
            {
                break;
            }

            await Task.WhenAny(closed, Task.Delay(300, ct));
        }

        await closed;
        Assert.InRange(watch.Elapsed, idleTimeout - TimeSpan.FromMilliseconds(500), idleTimeout + TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task ConnectionsBeyondThePerAddressCap_AreRefused_WhileAnotherAddressStillConnects()
    {
        var ct = TestContext.Current.CancellationToken;
        var node = await StartRootAsync(o => o with { MaxConnectionsPerAddress = 3 });
        var peers = new List<RawSocketPeer>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                peers.Add(await RawSocketPeer.HandshakenAsync(node.Address.Port, "127.0.0.1", ct));
            }

            // The fourth from the same address: an ERROR Unavailable, then the node closes it.
            using (var refused = await RawSocketPeer.ConnectAsync(node.Address.Port, "127.0.0.1", ct))
            {
                var error = await refused.ReadFrameAsync(ct);
                Assert.Equal(FrameType.Error, error.Type);
                var exception = ErrorMessage.Decode(error.Payload);
                Assert.Equal(OmniStoreError.Unavailable, exception.Error);
                Assert.Contains("too many connections", exception.Message, StringComparison.OrdinalIgnoreCase);
                await refused.WaitForCloseAsync(TimeSpan.FromSeconds(5), ct);
            }

            // The library sees it as Unavailable too (and would move to its next address).
            var failed = await Assert.ThrowsAsync<OmniStoreException>(() => ConnectClientAsync(node, ct));
            Assert.Equal(OmniStoreError.Unavailable, failed.Error);

            var status = node.Connections;
            Assert.Equal(2, status.RefusedPerAddress);
            Assert.Null(status.Refusing); // others are still welcome: the node is ready

            // Another address still gets in, and is served.
            using var other = await RawSocketPeer.HandshakenAsync(node.Address.Port, "127.0.0.2", ct);
            await other.WriteAsync(RawSocketPeer.Frame(FrameType.Resolve, FrameFlags.End, 1, "missing"u8.ToArray()), ct);
            var answer = await other.ReadFrameAsync(ct);
            Assert.Equal(FrameType.Error, answer.Type);
            Assert.Equal(OmniStoreError.NotFound, ErrorMessage.Decode(answer.Payload).Error);

            // Once one from the first address leaves, that address may connect again.
            peers[0].Dispose();
            peers.RemoveAt(0);
            await WaitUntilAsync(() => node.Children.Count == 3, "the node noticed the close");
            await using var client = await ConnectClientAsync(node, ct);
            await client.PutAsync("y", new byte[] { 2 }, ct);
        }
        finally
        {
            peers.ForEach(peer => peer.Dispose());
        }
    }

    [Fact]
    public async Task ConnectionsBeyondTheTotalCap_AreRefused_UntilOneLeaves()
    {
        var ct = TestContext.Current.CancellationToken;
        var node = await StartRootAsync(o => o with { MaxConnections = 4 });
        var peers = new List<RawSocketPeer>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                peers.Add(await RawSocketPeer.HandshakenAsync(node.Address.Port, $"127.0.0.{i + 2}", ct));
            }

            var full = node.Connections;
            Assert.NotNull(full.Refusing);
            Assert.Contains("limit of 4 connections", full.Refusing.Reason, StringComparison.Ordinal);

            using (var refused = await RawSocketPeer.ConnectAsync(node.Address.Port, "127.0.0.9", ct))
            {
                var error = await refused.ReadFrameAsync(ct);
                Assert.Equal(OmniStoreError.Unavailable, ErrorMessage.Decode(error.Payload).Error);
                await refused.WaitForCloseAsync(TimeSpan.FromSeconds(5), ct);
            }

            peers[0].Dispose();
            peers.RemoveAt(0);
            // The slot is given back once the connection is disposed, a moment after it leaves the children.
            await WaitUntilAsync(() => node.Children.Count == 3 && node.Connections.Refusing is null, "the node noticed the close and gave its slot back");
            Assert.InRange(full.Refusing.Since, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow);
            Assert.Equal(1, node.Connections.RefusedAtLimit);
            await using var client = await ConnectClientAsync(node, ct);
            await client.PutAsync("z", new byte[] { 3 }, ct);
        }
        finally
        {
            peers.ForEach(peer => peer.Dispose());
        }
    }

    [Fact]
    public async Task ConnectsThatNeverHandshake_AreCappedAndTimedOut_ThenClientsGetInAgain()
    {
        var ct = TestContext.Current.CancellationToken;
        var node = await StartRootAsync(o => o with { MaxPendingHandshakes = 4, HandshakeTimeout = TimeSpan.FromSeconds(1) });

        // Four plain connects from four addresses (one address may hold only half the slots).
        var silent = new List<RawSocketPeer>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                silent.Add(await RawSocketPeer.ConnectAsync(node.Address.Port, $"127.0.0.{i + 2}", ct));
            }

            // Every handshake slot is taken: a client is refused, with a clear error.
            await Task.Delay(200, ct); // for the node to accept them all
            var refused = await Assert.ThrowsAsync<OmniStoreException>(() => ConnectClientAsync(node, ct));
            Assert.Equal(OmniStoreError.Unavailable, refused.Error);
            Assert.Contains("handshakes in progress", node.Connections.Refusing?.Reason, StringComparison.Ordinal);

            // The node closes the silent ones after the handshake timeout, and admits clients again.
            await Task.WhenAll(silent.Select(peer => peer.WaitForCloseAsync(TimeSpan.FromSeconds(10), ct)));
            await using var client = await ConnectClientAsync(node, ct);
            await client.PutAsync("w", new byte[] { 5 }, ct);
        }
        finally
        {
            silent.ForEach(peer => peer.Dispose());
        }
    }

    [Fact]
    public async Task OnePlainConnectAddress_CannotTakeMoreThanHalfTheHandshakeSlots()
    {
        var ct = TestContext.Current.CancellationToken;
        var node = await StartRootAsync(o => o with { MaxPendingHandshakes = 4 });
        var silent = new List<RawSocketPeer>();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                silent.Add(await RawSocketPeer.ConnectAsync(node.Address.Port, "127.0.0.2", ct));
            }

            using (var third = await RawSocketPeer.ConnectAsync(node.Address.Port, "127.0.0.2", ct))
            {
                var error = await third.ReadFrameAsync(ct);
                Assert.Equal(OmniStoreError.Unavailable, ErrorMessage.Decode(error.Payload).Error);
            }

            await using var client = await ConnectClientAsync(node, ct);
            await client.PutAsync("v", new byte[] { 6 }, ct);
        }
        finally
        {
            silent.ForEach(peer => peer.Dispose());
        }
    }

    [Fact]
    public async Task IdleLinks_PingEachOther_AndMeasureTheRoundTrip()
    {
        var ct = TestContext.Current.CancellationToken;
        var node = await StartRootAsync(o => o with { KeepAliveInterval = TimeSpan.FromMilliseconds(100), IdleTimeout = TimeSpan.FromSeconds(2) });
        var counters = new LinkCounters();
        var transport = await OmniStore.Transport.Tcp.TcpConnection.ConnectAsync(node.Address, counters, ct);
        await using var connection = await PeerConnection.StartAsync(transport, transport, true, ConnectionIdentity.NewClient(), null, counters, null, ct);
        connection.Liveness = new ConnectionLiveness(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(2));
        await WaitUntilAsync(() => node.Children.Count == 1, "the node holds the connection");
        var child = Assert.Single(node.Children);

        await WaitUntilAsync(() => connection.SmoothedRtt is not null && child.SmoothedRtt is not null, "both ends measured a round trip", TimeSpan.FromSeconds(10));
        Assert.InRange(connection.MinRtt!.Value, TimeSpan.FromTicks(1), connection.SmoothedRtt!.Value * 8);
        Assert.InRange(connection.SmoothedRtt!.Value, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(1));
        Assert.InRange(child.MinRtt!.Value, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(1));
        await Task.Delay(500, ct);
        Assert.True(connection.IsOpen);
        Assert.False(connection.TimedOut);
    }

    [Fact]
    public async Task APeerThatFallsSilent_IsDeclaredDead_AndTheRequestWaitingOnItFails()
    {
        // A "node" that completes the handshake and then neither answers nor sends anything: the
        // client's request fails with Unavailable (so it would fail over) after the idle timeout,
        // though it has nothing more to send.
        var ct = TestContext.Current.CancellationToken;
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var accept = Task.Run(
            async () =>
            {
                using var socket = await listener.AcceptSocketAsync(ct);
                using var stream = new System.Net.Sockets.NetworkStream(socket);
                var header = new byte[ProtocolLimits.HeaderSize];
                await stream.ReadExactlyAsync(header, ct);
                var hello = new byte[BitConverter.ToInt32(header) - 8];
                await stream.ReadExactlyAsync(hello, ct);
                using var key = NodeIdentity.Create();
                var answer = new HelloMessage(ProtocolLimits.MaxVersion, ProtocolLimits.MaxVersion, key.Id, NodeRole.Root, "silent", Handshake.NewNonce(), false, []) { PublicKey = key.PublicKey };
                await stream.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, Handshake.SignAcceptorHello(key, hello, answer)), ct);
                await stream.ReadExactlyAsync(header, ct); // AUTH, taken unchecked: this "node" checks nothing
                await stream.ReadExactlyAsync(new byte[BitConverter.ToInt32(header) - 8], ct);
                await stream.WriteAsync(RawSocketPeer.Frame(FrameType.Ready, FrameFlags.End, 0, []), ct);

                // Then silence, while reading (and dropping) whatever comes, until the client gives up.
                var sink = new byte[4096];
                while (await stream.ReadAsync(sink, ct).AsTask().WaitAsync(Timeout, ct) > 0)
                {
                }
            },
            ct);

        var counters = new LinkCounters();
        var address = new NodeAddress("tcp", "127.0.0.1", ((System.Net.IPEndPoint)listener.LocalEndpoint).Port);
        var transport = await OmniStore.Transport.Tcp.TcpConnection.ConnectAsync(address, counters, ct);
        await using var connection = await PeerConnection.StartAsync(transport, transport, true, ConnectionIdentity.NewClient(), null, counters, null, ct);
        connection.Liveness = new ConnectionLiveness(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1));

        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Resolve, "name"u8.ToArray(), ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.Contains("no complete frame", error.Message, StringComparison.Ordinal);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.7), TimeSpan.FromSeconds(5));
        Assert.True(connection.TimedOut);
        await accept.WaitAsync(Timeout, ct);
    }

    [Fact]
    public async Task APeerReadingALongAnswer_WithNothingToSay_IsNotDeclaredDead()
    {
        // A worker behind a congested link takes longer than the idle timeout to receive one
        // answer and has nothing to send meanwhile; the node's PING waits behind the answer, so
        // no PONG comes either. The peer reads, so it is alive: the answer must arrive whole.
        var ct = TestContext.Current.CancellationToken;
        var node = await StartRootAsync(o => o with { KeepAliveInterval = TimeSpan.FromMilliseconds(200), IdleTimeout = TimeSpan.FromSeconds(1) });
        var chunk = new byte[4 << 20];
        new Random(7).NextBytes(chunk);
        var id = OmniStore.Content.ChunkId.Compute(chunk);
        await using (var writer = await OmniStoreClient.ConnectAsync(node.Address.ToString(), new OmniStoreOptions { ChunkSize = chunk.Length }, ct))
        {
            await writer.PutAsync("big", chunk, ct);
        }

        using var reader = await RawSocketPeer.HandshakenSlowReaderAsync(node.Address.Port, 64 << 10, ct);
        await reader.WriteAsync(RawSocketPeer.Frame(FrameType.GetChunk, FrameFlags.End, 1, OmniStore.Node.Requests.ChunkRequests.Encode(id, chunk.Length)), ct);

        // About 1.3 MB/s: three idle timeouts to read the answer, sending nothing.
        var watch = Stopwatch.StartNew();
        var header = new byte[ProtocolLimits.HeaderSize];
        long answered = 0;
        bool ended = false;
        while (!ended)
        {
            await reader.Stream.ReadExactlyAsync(header, ct).AsTask().WaitAsync(Timeout, ct);
            int length = BitConverter.ToInt32(header, 0) - 8;
            var type = (FrameType)header[4];
            Assert.True(type is FrameType.Chunk or FrameType.Ping, $"the node sent a {type} frame after {answered} bytes of the answer, {watch.Elapsed.TotalSeconds:0.0} s in");
            var payload = new byte[length];
            for (int read = 0; read < length;)
            {
                int n = await reader.Stream.ReadAsync(payload.AsMemory(read, Math.Min(32 << 10, length - read)), ct).AsTask().WaitAsync(Timeout, ct);
                Assert.True(n > 0, $"the node closed the connection after {answered + read} bytes of the answer, {watch.Elapsed.TotalSeconds:0.0} s in");
                read += n;
                await Task.Delay(25, ct);
            }

            if (type == FrameType.Chunk)
            {
                answered += length;
                ended = ((FrameFlags)header[5] & FrameFlags.End) != 0;
            }
        }

        Assert.Equal(ChunkMessage.HeaderSize + chunk.Length, answered);
        Assert.True(watch.Elapsed > TimeSpan.FromSeconds(2), $"the answer took {watch.Elapsed}: too fast to show anything");
    }

    public static TheoryData<string> BadOptions => new() { "MaxConnections", "MaxConnectionsPerAddress", "MaxPendingHandshakes", "HandshakeTimeout", "KeepAliveInterval", "IdleTimeout" };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void ConnectionOptionsOutOfRange_AreRefusedUpFront_NamingTheSetting(string setting)
    {
        var options = new TreeNodeOptions { Listen = [new NodeAddress("tcp", "127.0.0.1", 0)], DataDirectory = _dir.Sub("unused") };
        options = setting switch
        {
            "MaxConnections" => options with { MaxConnections = 0 },
            "MaxConnectionsPerAddress" => options with { MaxConnectionsPerAddress = 0 },
            "MaxPendingHandshakes" => options with { MaxPendingHandshakes = -1 },
            "HandshakeTimeout" => options with { HandshakeTimeout = TimeSpan.FromMinutes(1) },
            "KeepAliveInterval" => options with { KeepAliveInterval = TimeSpan.Zero },
            _ => options with { IdleTimeout = options.KeepAliveInterval },
        };
        var error = Assert.ThrowsAny<ArgumentException>(() => options.Validate());
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDefaultConnectionLimit_LeavesDescriptorsFree_AndIsBounded()
    {
        int limit = OmniStore.Node.Internal.ConnectionAdmission.DescriptorCeiling() ?? OmniStore.Node.Internal.ConnectionAdmission.DefaultCeiling;
        Assert.InRange(limit, 8, OmniStore.Node.Internal.ConnectionAdmission.DefaultCeiling);
        if (OmniStore.Internal.DescriptorLimit.Get() is { } descriptors && descriptors.Soft != OmniStore.Internal.DescriptorLimit.Unlimited)
        {
            int open = OmniStore.Internal.DescriptorLimit.OpenNow() ?? 0;
            Assert.True(open + limit + OmniStore.Node.Internal.ConnectionAdmission.MinReservedDescriptors <= Math.Max(descriptors.Soft, open + 136), $"{limit} connections with {open} descriptors open would leave too few of {descriptors.Soft}");
        }
    }
}
