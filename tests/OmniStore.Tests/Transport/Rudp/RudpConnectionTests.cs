using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using OmniStore.Transport;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// rudp connections over loopback, end to end: the handshake, a stream each way that arrives
/// whole, a clean end of stream, a refusal's farewell, a dial nobody answers, and the same stream
/// through a shim that loses, duplicates and reorders datagrams.
/// </summary>
public sealed class RudpConnectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    internal static RudpSettings Fast { get; } = RudpSettings.Default with { HandshakeTimeout = TimeSpan.FromSeconds(5), IdleTimeout = TimeSpan.FromSeconds(5) };

    internal static async Task<(RudpListener Listener, RudpConnection Client, TransportConnection Server)> PairAsync(RudpSettings settings, Func<IPEndPoint, IPEndPoint>? via = null, CancellationToken ct = default)
    {
        var listener = RudpListener.Bind(new NodeAddress("rudp", "127.0.0.1", 0), settings);
        var serverAt = new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port);
        var accept = listener.AcceptAsync(ct);
        var client = await RudpConnection.ConnectAsync(via?.Invoke(serverAt) ?? serverAt, new LinkCounters(), settings, ct).WaitAsync(Timeout, ct);
        var accepted = await accept.WaitAsync(Timeout, ct);
        Assert.Equal(AcceptStatus.Accepted, accepted.Status);
        var server = accepted.Connection!.Open(new LinkCounters())!;
        return (listener, client, server);
    }

    /// <summary>Writes <paramref name="data"/> to <paramref name="to"/> and closes its output, while reading everything <paramref name="from"/> gets until the end of its stream.</summary>
    internal static async Task<byte[]> TransferAsync(TransportConnection to, TransportConnection from, byte[] data, CancellationToken ct)
    {
        var write = Task.Run(async () =>
        {
            for (int at = 0; at < data.Length; at += 100_000)
            {
                await to.Output.WriteAsync(data.AsMemory(at, Math.Min(100_000, data.Length - at)), ct);
            }

            await to.CloseOutputAsync();
        }, ct);
        using var received = new MemoryStream();
        while (true)
        {
            var result = await from.Input.ReadAsync(ct);
            foreach (var segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            from.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await write;
        return received.ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AStreamEachWay_ArrivesWholeAndEnds(bool portableSocket)
    {
        var ct = TestContext.Current.CancellationToken;
        var (listener, client, server) = await PairAsync(Fast with { PortableSocket = portableSocket }, ct: ct);
        await using (listener)
        await using (client)
        await using (server)
        {
            var up = RandomNumberGenerator.GetBytes(8 << 20);
            var down = RandomNumberGenerator.GetBytes(3 << 20);
            var toServer = TransferAsync(client, server, up, ct);
            var toClient = TransferAsync(server, client, down, ct);
            Assert.Equal(up, await toServer.WaitAsync(Timeout, ct));
            Assert.Equal(down, await toClient.WaitAsync(Timeout, ct));
            Assert.True(client.Counters.WireOut > up.Length, "wire bytes counted");
            Assert.True(server.Counters.WireIn > up.Length, "wire bytes counted");
            Assert.Equal(portableSocket, client.Statistics.SocketPath == "portable");
        }
    }

    [Theory]
    [InlineData(0.01, 0.0, 0.0)]
    [InlineData(0.10, 0.02, 0.02)]
    [InlineData(0.30, 0.0, 0.0)]
    [InlineData(0.0, 0.10, 0.10)]
    public async Task ThroughALossyPath_TheStreamArrivesWhole(double loss, double duplicate, double reorder)
    {
        var ct = TestContext.Current.CancellationToken;
        LossyUdpShim? shim = null;
        var settings = Fast with { IdleTimeout = TimeSpan.FromSeconds(20), HandshakeTimeout = TimeSpan.FromSeconds(20) };
        var (listener, client, server) = await PairAsync(settings, server => (shim = new LossyUdpShim(server, loss, duplicate, reorder, seed: 42)).FrontEndPoint, ct);
        using (shim)
        await using (listener)
        await using (client)
        await using (server)
        {
            var data = RandomNumberGenerator.GetBytes(loss >= 0.3 ? 512 << 10 : 2 << 20);
            Assert.Equal(data, await TransferAsync(client, server, data, ct).WaitAsync(Timeout, ct));
            var back = RandomNumberGenerator.GetBytes(256 << 10);
            Assert.Equal(back, await TransferAsync(server, client, back, ct).WaitAsync(Timeout, ct));
            Assert.True(loss == 0 || shim!.Dropped > 0, "the shim dropped datagrams");
            Assert.True(loss == 0 || client.Statistics.PacketsLost > 0, "the sender saw losses");
        }
    }

    [Fact]
    public async Task Dialing_WhereNobodyAnswers_FailsUnavailable_InTheHandshakeTimeout()
    {
        var ct = TestContext.Current.CancellationToken;
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0)); // receives, never answers
        var settings = Fast with { HandshakeTimeout = TimeSpan.FromSeconds(1) };
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => RudpConnection.ConnectAsync((IPEndPoint)silent.LocalEndPoint!, new LinkCounters(), settings, ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
        Assert.Contains("no rudp answer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARefusal_DeliversItsFarewell_ThenTheEnd()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var listener = RudpListener.Bind(new NodeAddress("rudp", "127.0.0.1", 0), Fast);
        var accept = listener.AcceptAsync(ct);
        var connecting = RudpConnection.ConnectAsync(new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port), new LinkCounters(), Fast, ct);
        var incoming = (await accept.WaitAsync(Timeout, ct)).Connection!;
        incoming.Refuse("go away"u8);
        await using var client = await connecting.WaitAsync(Timeout, ct);
        var read = await client.Input.ReadAtLeastAsync(100, ct).AsTask().WaitAsync(Timeout, ct);
        Assert.True(read.IsCompleted);
        Assert.Equal("go away"u8.ToArray(), System.Buffers.BuffersExtensions.ToArray(read.Buffer));
        Assert.Equal(0, listener.Endpoints[0].ConnectionCount);
    }

    [Fact]
    public async Task APeerThatVanishes_EndsTheConnection_WithATimeoutError_AndItIsForgotten()
    {
        var ct = TestContext.Current.CancellationToken;
        LossyUdpShim? shim = null;
        var settings = Fast with { IdleTimeout = TimeSpan.FromSeconds(2) };
        var (listener, client, server) = await PairAsync(settings, server => (shim = new LossyUdpShim(server)).FrontEndPoint, ct);
        using (shim)
        await using (listener)
        await using (client)
        await using (server)
        {
            shim!.Blackhole = true;
            var started = DateTime.UtcNow;
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
            Assert.Contains("silent", error.Message, StringComparison.Ordinal);
            Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15));
            Assert.True(server.Closed.IsCancellationRequested);
            for (int i = 0; i < 100 && listener.Endpoints[0].ConnectionCount > 0; i++)
            {
                await Task.Delay(50, ct);
            }

            Assert.Equal(0, listener.Endpoints[0].ConnectionCount);
        }
    }

    [Fact]
    public async Task AListenerThatCloses_TellsItsPeersAtOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        var settings = RudpSettings.Default with { IdleTimeout = TimeSpan.FromSeconds(60) };
        var (listener, client, server) = await PairAsync(settings, ct: ct);
        await using (client)
        await using (server)
        {
            var started = DateTime.UtcNow;
            await listener.DisposeAsync();
            var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                while (true)
                {
                    var result = await client.Input.ReadAsync(ct).AsTask().WaitAsync(Timeout, ct);
                    client.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        return;
                    }
                }
            });
            Assert.Contains("closed", error.Message, StringComparison.Ordinal);
            Assert.InRange(DateTime.UtcNow - started, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public async Task OnALongPath_TheMinimumRtt_IsThePaths_NotAResentInitials()
    {
        // Initials are resent every 200 ms; on a 300 ms path the Accept answers an earlier one than
        // the latest, and a sample taken from the latest read a third of the path's round trip.
        var ct = TestContext.Current.CancellationToken;
        LossyUdpShim? shim = null;
        var (listener, client, server) = await PairAsync(Fast, s => (shim = new LossyUdpShim(s, oneWayDelay: TimeSpan.FromMilliseconds(150))).FrontEndPoint, ct);
        using (shim)
        await using (listener)
        await using (client)
        await using (server)
        {
            var data = RandomNumberGenerator.GetBytes(256 << 10);
            Assert.Equal(data, await TransferAsync(client, server, data, ct).WaitAsync(Timeout, ct));
            Assert.InRange(client.Statistics.MinRttMs, 295, 400);
            Assert.InRange(((RudpConnection)server).Statistics.MinRttMs, 295, 400);
        }
    }

    [Fact]
    public async Task ALinkThatWaitsBeforeItsFirstData_StillStartsUp()
    {
        // A relay connects to its parent and asks for nothing until a worker asks it: the round
        // trips of the handshake, of path MTU probes and of pings carry no data the application
        // had. They must not count as rounds at the path's full bandwidth: BBR left Startup on them
        // with ~100 KB/s as its estimate, and the first MiB of a 100 Mbit/s, 40 ms link took 4 s.
        var ct = TestContext.Current.CancellationToken;
        LossyUdpShim? shim = null;
        var (listener, client, server) = await PairAsync(Fast, s => (shim = new LossyUdpShim(s, oneWayDelay: TimeSpan.FromMilliseconds(20))).FrontEndPoint, ct);
        using (shim)
        await using (listener)
        await using (client)
        await using (server)
        {
            // A few small messages each way, as a handshake, then an idle second.
            for (int i = 0; i < 4; i++)
            {
                await client.Output.WriteAsync(new byte[64], ct);
                var read = await server.Input.ReadAsync(ct).AsTask().WaitAsync(Timeout, ct);
                server.Input.AdvanceTo(read.Buffer.End);
                await server.Output.WriteAsync(new byte[64], ct);
                read = await client.Input.ReadAsync(ct).AsTask().WaitAsync(Timeout, ct);
                client.Input.AdvanceTo(read.Buffer.End);
            }

            await Task.Delay(1500, ct);
            var state = ((RudpConnection)server).Statistics;
            Assert.True(state.Congestion == "bbr/Startup", $"after an idle second the server's controller is {state.Congestion} (pacing {state.PacingRate:N0} B/s, {state.PacketsSent} packets sent)");
            Assert.True(state.PacingRate >= 2.8 * 10 * 1200 * 1000 / 60, $"pacing {state.PacingRate:N0} B/s on a 40 ms path: paced from the default round trip, not the measured one");
        }
    }

    [Fact]
    public async Task WhatAClosedConnectionWasGiven_StillArrives_WhenItsListenerClosesRightAfter()
    {
        // A server answers, closes the connection and stops (omnistore bench link --once): as over
        // TCP, the answer must arrive, not be cut off by the listener's closing.
        var ct = TestContext.Current.CancellationToken;
        LossyUdpShim? shim = null;
        var (listener, client, server) = await PairAsync(Fast, s => (shim = new LossyUdpShim(s, loss: 0.05, seed: 8, oneWayDelay: TimeSpan.FromMilliseconds(20))).FrontEndPoint, ct);
        using (shim)
        await using (client)
        {
            var answer = RandomNumberGenerator.GetBytes(512 << 10);
            await server.Output.WriteAsync(answer, ct);
            await server.DisposeAsync();
            await listener.DisposeAsync();

            var received = new MemoryStream();
            while (true)
            {
                var result = await client.Input.ReadAsync(ct).AsTask().WaitAsync(Timeout, ct);
                foreach (var segment in result.Buffer)
                {
                    received.Write(segment.Span);
                }

                client.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            Assert.Equal(answer, received.ToArray());
        }
    }
}
