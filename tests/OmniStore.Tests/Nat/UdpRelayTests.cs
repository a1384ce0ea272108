using System.Net;
using System.Net.Sockets;
using OmniStore.Nat;
using OmniStore.Nat.Rendezvous;

namespace OmniStore.Tests.Nat;

/// <summary>The rendezvous's relay (docs/nat.md, "Relayed fallback"): only ends that proved the token are relayed, each direction is held to its rate, and it ends when idle.</summary>
public sealed class UdpRelayTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static Socket Udp()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    private static async Task BindAsync(Socket socket, IPEndPoint relay, byte[] token)
    {
        var request = new StunMessage(StunType.BindingRequest, StunMessage.NewTransactionId()) { Username = token };
        await socket.SendToAsync(request.Encode(), relay, Token);
        var buffer = new byte[1500];
        var received = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), Token).AsTask().WaitAsync(Wait, Token);
        var answer = StunMessage.TryParse(buffer.AsSpan(0, received.ReceivedBytes));
        Assert.Equal(StunType.BindingSuccess, answer!.Type);
        Assert.Equal(socket.LocalEndPoint, answer.Mapped);
    }

    private static async Task<byte[]?> ReceiveAsync(Socket socket, TimeSpan within)
    {
        // Cancelled, not abandoned: a receive left waiting would take the next datagram.
        var buffer = new byte[65_536];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
        timeout.CancelAfter(within);
        try
        {
            var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
            return buffer[..received.ReceivedBytes];
        }
        catch (OperationCanceledException) when (!Token.IsCancellationRequested)
        {
            return null;
        }
    }

    private static IPEndPoint Loop(IPEndPoint side) => new(IPAddress.Loopback, side.Port);

    [Fact]
    public async Task BoundEnds_AreRelayedBothWays_AndStrangersAreDropped()
    {
        await using var relay = UdpRelay.Open(IPAddress.Loopback, 10_000_000, TimeSpan.FromSeconds(30));
        using var dialer = Udp();
        using var registrant = Udp();
        using var stranger = Udp();

        // Before both ends are bound nothing passes, and a wrong token binds nothing.
        await stranger.SendToAsync(new StunMessage(StunType.BindingRequest, StunMessage.NewTransactionId()) { Username = new byte[16] }.Encode(), Loop(relay.DialerSide), Token);
        await BindAsync(dialer, Loop(relay.DialerSide), relay.Token);
        await dialer.SendToAsync("early"u8.ToArray(), Loop(relay.DialerSide), Token);
        await BindAsync(registrant, Loop(relay.RegistrantSide), relay.Token);
        Assert.Null(await ReceiveAsync(registrant, TimeSpan.FromMilliseconds(200)));

        await dialer.SendToAsync("hello"u8.ToArray(), Loop(relay.DialerSide), Token);
        Assert.Equal("hello"u8.ToArray(), await ReceiveAsync(registrant, Wait));
        await registrant.SendToAsync("world"u8.ToArray(), Loop(relay.RegistrantSide), Token);
        Assert.Equal("world"u8.ToArray(), await ReceiveAsync(dialer, Wait));

        await stranger.SendToAsync("intrude"u8.ToArray(), Loop(relay.DialerSide), Token);
        Assert.Null(await ReceiveAsync(registrant, TimeSpan.FromMilliseconds(200)));
        Assert.True(relay.Dropped >= 2, $"{relay.Dropped} dropped");
        Assert.Equal(2, relay.Forwarded);
    }

    [Fact]
    public async Task EachDirection_IsHeldToItsRate()
    {
        await using var relay = UdpRelay.Open(IPAddress.Loopback, 100_000, TimeSpan.FromSeconds(30)); // 100 kB/s: a 64 KiB burst, then 100 bytes a millisecond
        using var dialer = Udp();
        using var registrant = Udp();
        await BindAsync(dialer, Loop(relay.DialerSide), relay.Token);
        await BindAsync(registrant, Loop(relay.RegistrantSide), relay.Token);

        var datagram = new byte[1000];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 300; i++)
        {
            await dialer.SendToAsync(datagram, Loop(relay.DialerSide), Token); // 300 kB at once: far over a quarter second's worth
        }

        int received = 0;
        while (await ReceiveAsync(registrant, TimeSpan.FromMilliseconds(300)) is not null)
        {
            received++;
        }

        // At most the burst and what the rate refilled while the datagrams arrived (the kernel may drop some too).
        double allowed = (65_536 + (100_000 * clock.Elapsed.TotalSeconds)) / 1000;
        Assert.InRange(received, 60, (int)allowed + 2);
        Assert.Equal(received, relay.Forwarded);
    }

    [Fact]
    public async Task AnIdleRelay_Ends()
    {
        await using var relay = UdpRelay.Open(IPAddress.Loopback, 1_000_000, TimeSpan.FromMilliseconds(300));
        await relay.Completion.WaitAsync(Wait, Token);
    }
}
