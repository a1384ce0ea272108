using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using OmniStore.Transport;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// What a listener does with hostile datagrams (docs/rudp.md, "Memory and hostile input"): garbage,
/// truncated headers, unknown versions, forged tokens and a flood of Initials from many sources are
/// dropped and counted with no state kept, a connection's peer moving to a new address keeps its
/// connection, a malformed frame closes only its own connection, and every other peer goes on.
/// </summary>
public sealed class RudpRobustnessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static Socket Attacker()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.ReceiveTimeout = 200;
        return socket;
    }

    private static byte[] Initial(ConnectionId destination, ConnectionId source, ReadOnlySpan<byte> token, uint version = PacketHeader.Version1, int size = PacketHeader.MinInitialDatagram)
    {
        var datagram = new byte[size];
        int at = PacketHeader.WriteLong(datagram, PacketType.Initial, version, destination, source);
        at += Varint.Write(datagram.AsSpan(at), (ulong)token.Length);
        token.CopyTo(datagram.AsSpan(at));
        at += token.Length;
        RudpIncoming.Own(RudpSettings.Default).Write(datagram.AsSpan(at));
        return datagram;
    }

    private static async Task WaitForAsync(Func<bool> condition, CancellationToken ct)
    {
        for (int i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25, ct);
        }
    }

    private static async Task AssertStillServesAsync(RudpListener listener, CancellationToken ct)
    {
        var accept = listener.AcceptAsync(ct);
        await using var client = await RudpConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port), new LinkCounters(), RudpConnectionTests.Fast, ct).WaitAsync(Timeout, ct);
        await using var server = (await accept.WaitAsync(Timeout, ct)).Connection!.Open(new LinkCounters())!;
        var data = RandomNumberGenerator.GetBytes(256 << 10);
        Assert.Equal(data, await RudpConnectionTests.TransferAsync(client, server, data, ct).WaitAsync(Timeout, ct));
    }

    [Fact]
    public async Task GarbageTruncatedAndUnknownDatagrams_AreDroppedAndCounted_AndTheListenerServes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var listener = RudpListener.Bind(new NodeAddress("rudp", "127.0.0.1", 0), RudpConnectionTests.Fast);
        var target = new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port);
        using var attacker = Attacker();
        var random = new Random(5);
        int sent = 0;
        for (int i = 0; i < 2000; i++)
        {
            var datagram = new byte[random.Next(0, 1500)];
            random.NextBytes(datagram);
            attacker.SendTo(datagram, target);
            sent++;
        }

        // Truncated long and short headers, a short header for no connection, an Initial too small to answer.
        attacker.SendTo(new byte[] { 0xC0, 1, 0, 0 }, target);
        attacker.SendTo(new byte[] { 0x40, 1, 2 }, target);
        var shortHeader = new byte[40];
        PacketHeader.WriteShort(shortHeader, ConnectionId.NewRandom(), 7, 2);
        attacker.SendTo(shortHeader, target);
        attacker.SendTo(Initial(ConnectionId.NewRandom(), ConnectionId.NewRandom(), [], size: 600), target);
        sent += 4;

        var endpoint = listener.Endpoints[0];
        await WaitForAsync(() => Interlocked.Read(ref endpoint.Counters.DatagramsIn) >= sent, ct);
        var counters = endpoint.Counters;
        Assert.True(counters.Malformed + counters.UnknownConnection + counters.UnknownVersion + counters.RetriesSent >= sent - 5, $"{counters.Malformed} malformed, {counters.UnknownConnection} unknown, {counters.UnknownVersion} versions of {sent}");
        Assert.Equal(0, endpoint.ConnectionCount);
        Assert.Equal(0, endpoint.PendingCount);
        await AssertStillServesAsync(listener, ct);
    }

    [Fact]
    public async Task AFloodOfInitials_FromManySources_GetsRetriesOnly_AndKeepsNoState()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var listener = RudpListener.Bind(new NodeAddress("rudp", "127.0.0.1", 0), RudpConnectionTests.Fast);
        var target = new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port);
        var endpoint = listener.Endpoints[0];
        var sources = Enumerable.Range(0, 64).Select(_ => Attacker()).ToList();
        try
        {
            for (int round = 0; round < 50; round++)
            {
                foreach (var source in sources)
                {
                    source.SendTo(Initial(ConnectionId.NewRandom(), ConnectionId.NewRandom(), []), target);
                }
            }

            // Each answer is a Retry, far smaller than the Initial it answers (no amplification).
            var buffer = new byte[2048];
            int answer = sources[0].Receive(buffer);
            Assert.True(answer < 100, $"a Retry of {answer} bytes answers a 1200-byte Initial");

            // Forged tokens, and a real token replayed from another address.
            var forged = RandomNumberGenerator.GetBytes(RetryCookie.TokenSize);
            sources[1].SendTo(Initial(ConnectionId.NewRandom(), ConnectionId.NewRandom(), forged), target);
            Assert.True(PacketHeader.TryRead(buffer.AsSpan(0, answer), out var retry, out _));
            var token = buffer.AsSpan(retry.Length, answer - retry.Length).ToArray();
            sources[2].SendTo(Initial(retry.Source, retry.Destination, token), target);

            await WaitForAsync(() => Interlocked.Read(ref endpoint.Counters.BadTokens) >= 2, ct);
            Assert.True(endpoint.Counters.RetriesSent >= 1000, $"{endpoint.Counters.RetriesSent} retries");
            Assert.Equal(2, endpoint.Counters.BadTokens);
            Assert.Equal(0, endpoint.ConnectionCount);
            Assert.Equal(0, endpoint.PendingCount);
            await AssertStillServesAsync(listener, ct);
        }
        finally
        {
            sources.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task AnUnknownVersion_IsAnsweredWithTheVersionsSpoken()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var listener = RudpListener.Bind(new NodeAddress("rudp", "127.0.0.1", 0), RudpConnectionTests.Fast);
        using var client = Attacker();
        var source = ConnectionId.NewRandom();
        client.SendTo(Initial(ConnectionId.NewRandom(), source, [], version: 7), new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port));
        var buffer = new byte[2048];
        int read = client.Receive(buffer);
        Assert.True(PacketHeader.TryRead(buffer.AsSpan(0, read), out var header, out _));
        Assert.Equal(PacketType.VersionNegotiation, header.Type);
        Assert.Equal(source, header.Destination);
        Assert.Equal(PacketHeader.Version1, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(header.Length)));
        Assert.Equal(0, listener.Endpoints[0].PendingCount);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task APeerWhoseAddressChanges_KeepsItsConnection()
    {
        var ct = TestContext.Current.CancellationToken;
        LossyUdpShim? shim = null;
        var (listener, client, server) = await RudpConnectionTests.PairAsync(RudpConnectionTests.Fast, s => (shim = new LossyUdpShim(s)).FrontEndPoint, ct);
        using (shim)
        await using (listener)
        await using (client)
        await using (server)
        {
            var first = RandomNumberGenerator.GetBytes(1 << 20);
            var moving = Task.Run(async () =>
            {
                await Task.Delay(20, ct);
                shim!.Rebind(); // the client's NAT gave it a new port mid-stream
            }, ct);
            Assert.Equal(first, await RudpConnectionTests.TransferAsync(client, server, first, ct).WaitAsync(Timeout, ct));
            await moving;
            var back = RandomNumberGenerator.GetBytes(1 << 20);
            Assert.Equal(back, await RudpConnectionTests.TransferAsync(server, client, back, ct).WaitAsync(Timeout, ct));
            Assert.Equal(1, ((RudpConnection)server).PathChanges);
        }
    }

    [Fact]
    public async Task AMalformedFrame_ClosesOnlyItsConnection_AsAProtocolViolation()
    {
        var ct = TestContext.Current.CancellationToken;
        var (listener, client, server) = await RudpConnectionTests.PairAsync(RudpConnectionTests.Fast, ct: ct);
        await using (listener)
        await using (client)
        await using (server)
        {
            // One who knows the connection's id (on the path) sends a STREAM frame longer than its packet.
            var id = ((RudpConnection)server).LocalId;
            var datagram = new byte[64];
            int at = PacketHeader.WriteShort(datagram, id, 1_000, 4);
            datagram[at++] = (byte)RudpFrameType.Stream;
            at += Varint.Write(datagram.AsSpan(at), 0);
            Varint.Write(datagram.AsSpan(at), 5_000);
            using var attacker = Attacker();
            attacker.SendTo(datagram, new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port));

            var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                while (true)
                {
                    var result = await server.Input.ReadAsync(ct).AsTask().WaitAsync(Timeout, ct);
                    server.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        return;
                    }
                }
            });
            Assert.Contains("protocol violation", error.Message, StringComparison.Ordinal);
            await AssertStillServesAsync(listener, ct);
        }
    }

    [Fact]
    public async Task AReaderThatStops_BoundsTheBuffersAtBothEnds_ByTheWindow()
    {
        var ct = TestContext.Current.CancellationToken;
        var (listener, client, server) = await RudpConnectionTests.PairAsync(RudpConnectionTests.Fast, ct: ct);
        await using (listener)
        await using (client)
        await using (server)
        {
            var data = RandomNumberGenerator.GetBytes(48 << 20);
            var write = Task.Run(async () => await server.Output.WriteAsync(data, ct), ct);
            await Task.Delay(1000, ct); // the client reads nothing meanwhile
            var sender = (RudpConnection)server;
            int window = client.Statistics.ReceiveWindow;
            Assert.InRange(window, 1 << 20, 4 << 20); // it grows only while the pipe above takes bytes (1 MiB)
            Assert.InRange(client.BufferBytes, 0, window + (64 << 10)); // the receive ring holds at most the window (and the idle send ring 64 KiB)
            Assert.InRange(sender.BufferBytes, 0, (2 * (window + (256 << 10))) + (64 << 10)); // the window and a little more, in a ring that doubles: the writer waits
            Assert.False(write.IsCompleted);

            var received = new MemoryStream();
            while (received.Length < data.Length)
            {
                var result = await client.Input.ReadAsync(ct).AsTask().WaitAsync(Timeout, ct);
                foreach (var segment in result.Buffer)
                {
                    received.Write(segment.Span);
                }

                client.Input.AdvanceTo(result.Buffer.End);
            }

            await write.WaitAsync(Timeout, ct);
            Assert.Equal(data, received.ToArray());
        }
    }

    [Fact]
    public async Task WindowGrowth_ComesOutOfTheSocketsBudget_AndGoesBackAtClose()
    {
        var ct = TestContext.Current.CancellationToken;
        var settings = RudpConnectionTests.Fast with { InitialWindow = 64 * 1024, WindowBudget = 192 * 1024 };
        LossyUdpShim? shim = null;
        var (listener, client, server) = await RudpConnectionTests.PairAsync(settings, s => (shim = new LossyUdpShim(s, oneWayDelay: TimeSpan.FromMilliseconds(5))).FrontEndPoint, ct);
        var budget = listener.Endpoints[0].WindowBudget;
        using (shim)
        await using (listener)
        {
            await using (client)
            await using (server)
            {
                var data = RandomNumberGenerator.GetBytes(8 << 20);
                Assert.Equal(data, await RudpConnectionTests.TransferAsync(client, server, data, ct).WaitAsync(Timeout, ct));
                var window = ((RudpConnection)server).Statistics.ReceiveWindow;
                Assert.InRange(window, 128 * 1024, (64 + 192) * 1024); // it grew (a 10 ms path), within the budget
                Assert.Equal(192 * 1024 - (window - (64 * 1024)), budget.Left);
            }

            for (int i = 0; i < 100 && budget.Left != 192 * 1024; i++)
            {
                await Task.Delay(20, ct);
            }

            Assert.Equal(192 * 1024, budget.Left);
        }
    }

    [Fact]
    public async Task APathWhoseMtuShrinks_MidStream_IsFoundAgain_AndTheStreamArrives()
    {
        var ct = TestContext.Current.CancellationToken;
        LossyUdpShim? shim = null;
        var (listener, client, server) = await RudpConnectionTests.PairAsync(RudpConnectionTests.Fast, s => (shim = new LossyUdpShim(s, oneWayDelay: TimeSpan.FromMilliseconds(2))).FrontEndPoint, ct);
        using (shim)
        await using (listener)
        await using (client)
        await using (server)
        {
            var sender = (RudpConnection)server;
            var data = RandomNumberGenerator.GetBytes(16 << 20);
            var shrink = Task.Run(async () =>
            {
                while (sender.Statistics.PathMtu <= 1300 && !ct.IsCancellationRequested)
                {
                    await Task.Delay(5, ct); // until the search found the loopback's jumbo size
                }

                await Task.Delay(100, ct);
                shim!.MaxDatagram = 1300; // a new route with a smaller MTU: larger datagrams vanish, no ICMP
            }, ct);
            Assert.Equal(data, await RudpConnectionTests.TransferAsync(server, client, data, ct).WaitAsync(Timeout, ct));
            await shrink.WaitAsync(Timeout, ct);
            Assert.True(sender.BlackHoles >= 1, "the shrink was seen as a black hole");
            Assert.InRange(sender.Statistics.PathMtu, 1200, 1300);
        }
    }
}
