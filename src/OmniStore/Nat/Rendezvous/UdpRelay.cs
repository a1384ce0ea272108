using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace OmniStore.Nat.Rendezvous;

/// <summary>
/// A relayed path between two nodes no hole joins (docs/nat.md, "Relayed fallback"), TURN's idea
/// in its smallest form: two UDP sockets, one per end. An end binds itself to its socket with a
/// STUN Binding request carrying the relay's token (USERNAME), from wherever its NAT maps it; then
/// each datagram from one bound end leaves the other socket for the other bound end. Nothing is
/// buffered (one datagram at a time), each direction is held to a rate, and the relay ends after a
/// time without traffic.
/// </summary>
internal sealed class UdpRelay : IAsyncDisposable
{
    private readonly Socket[] _sockets = new Socket[2];
    private readonly IPEndPoint?[] _bound = new IPEndPoint?[2];
    private readonly TokenBucket[] _rates = new TokenBucket[2];
    // Never disposed: without a timer or linked tokens it holds nothing to release, and a pump may still read its token.
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeSpan _idle;
    private readonly Task _run;
    private long _lastTraffic = Environment.TickCount64;
    private int _stopped;

    private UdpRelay(IPAddress bind, long bytesPerSecond, TimeSpan idle)
    {
        Token = RandomNumberGenerator.GetBytes(RendezvousMessages.TokenSize);
        _idle = idle;
        try
        {
            for (int side = 0; side < 2; side++)
            {
                _sockets[side] = new Socket(bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                _sockets[side].Bind(new IPEndPoint(bind, 0));
                _rates[side] = new TokenBucket(bytesPerSecond);
            }
        }
        catch
        {
            foreach (var socket in _sockets)
            {
                socket?.Dispose();
            }

            throw;
        }

        _run = Task.WhenAll(PumpAsync(0), PumpAsync(1), ExpireAsync());
    }

    /// <summary>The token an end proves it was sent here with.</summary>
    public byte[] Token { get; }

    /// <summary>The dialer's socket (side 0).</summary>
    public IPEndPoint DialerSide => (IPEndPoint)_sockets[0].LocalEndPoint!;

    /// <summary>The registrant's socket (side 1).</summary>
    public IPEndPoint RegistrantSide => (IPEndPoint)_sockets[1].LocalEndPoint!;

    private long _forwarded;
    private long _forwardedBytes;
    private long _dropped;

    /// <summary>Datagrams passed on, both ways.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);

    /// <summary>Bytes passed on, both ways.</summary>
    public long ForwardedBytes => Interlocked.Read(ref _forwardedBytes);

    /// <summary>Datagrams dropped: from an address not bound, before both ends were, or over the rate.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Completes when the relay has ended (idle, or disposed).</summary>
    public Task Completion => _run;

    /// <summary>Opens a relay on <paramref name="bind"/> (port chosen by the system), at most <paramref name="bytesPerSecond"/> each way, ending after <paramref name="idle"/> without traffic.</summary>
    public static UdpRelay Open(IPAddress bind, long bytesPerSecond, TimeSpan idle) => new(bind, bytesPerSecond, idle);

    private async Task PumpAsync(int side)
    {
        var socket = _sockets[side];
        var other = _sockets[1 - side];
        var buffer = new byte[65_536];
        var any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // an ICMP error for an earlier send
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            var from = (IPEndPoint)received.RemoteEndPoint;
            var datagram = buffer.AsMemory(0, received.ReceivedBytes);
            if (datagram.Length > 0 && (datagram.Span[0] & 0xC0) == 0 && StunMessage.TryParse(datagram.Span) is { Type: StunType.BindingRequest } request)
            {
                if (request.Username is { } user && CryptographicOperations.FixedTimeEquals(user, Token))
                {
                    Volatile.Write(ref _bound[side], from); // the latest binding wins: an end whose NAT rebinds binds again
                    var answer = new StunMessage(StunType.BindingSuccess, request.TransactionId) { Mapped = from }.Encode();
                    await SendAsync(socket, answer, from).ConfigureAwait(false);
                    continue;
                }
            }

            if (!from.Equals(Volatile.Read(ref _bound[side])) || Volatile.Read(ref _bound[1 - side]) is not { } to || !_rates[side].Take(datagram.Length))
            {
                Interlocked.Increment(ref _dropped);
                continue;
            }

            Volatile.Write(ref _lastTraffic, Environment.TickCount64);
            Interlocked.Increment(ref _forwarded);
            Interlocked.Add(ref _forwardedBytes, datagram.Length);
            await SendAsync(other, datagram, to).ConfigureAwait(false);
        }
    }

    private static async Task SendAsync(Socket socket, ReadOnlyMemory<byte> datagram, IPEndPoint to)
    {
        try
        {
            await socket.SendToAsync(datagram, SocketFlags.None, to).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            // Lost, as a router would lose it; the ends resend.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task ExpireAsync()
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_idle.TotalMilliseconds / 4, 50, 5_000));
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (Environment.TickCount64 - Volatile.Read(ref _lastTraffic) > _idle.TotalMilliseconds)
            {
                Stop();
                return;
            }
        }
    }

    private void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Stop();
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>A token bucket: <c>rate</c> bytes a second, bursts up to a quarter second's worth (and at least one large datagram).</summary>
    private sealed class TokenBucket(long rate)
    {
        private readonly Lock _gate = new();
        private readonly double _capacity = Math.Max(rate / 4.0, 65_536);
        private double _tokens = Math.Max(rate / 4.0, 65_536);
        private long _last = Environment.TickCount64;

        public bool Take(int bytes)
        {
            lock (_gate)
            {
                long now = Environment.TickCount64;
                _tokens = Math.Min(_capacity, _tokens + ((now - _last) * rate / 1000.0));
                _last = now;
                if (_tokens < bytes)
                {
                    return false;
                }

                _tokens -= bytes;
                return true;
            }
        }
    }
}
