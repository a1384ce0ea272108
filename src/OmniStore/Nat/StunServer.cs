using System.Net;
using System.Net.Sockets;

namespace OmniStore.Nat;

/// <summary>
/// A UDP socket that only answers STUN Binding requests (<see cref="StunResponder"/>): a
/// rendezvous's second address, which a node asks from the same socket as the first to learn
/// whether its NAT maps it to one public address whoever it talks to (RFC 4787 "endpoint-independent
/// mapping", RFC 5780's OTHER-ADDRESS test; docs/nat.md, "Mapping behaviour"). Nothing is kept per request.
/// </summary>
internal sealed class StunServer : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;

    private StunServer(Socket socket)
    {
        _socket = socket;
        _serving = Task.Run(ServeAsync);
    }

    /// <summary>Where it answers.</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Requests answered.</summary>
    public long Answered => Interlocked.Read(ref _answered);

    private long _answered;

    /// <summary>Answers on <paramref name="address"/>, a port the system picks.</summary>
    public static StunServer Start(IPAddress address)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(address, 0));
            return new StunServer(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task ServeAsync()
    {
        var buffer = new byte[1500];
        var any = new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
                var from = (IPEndPoint)received.RemoteEndPoint;
                if (StunResponder.Answer(buffer.AsSpan(0, received.ReceivedBytes), from) is { } answer)
                {
                    Interlocked.Increment(ref _answered);
                    await _socket.SendToAsync(answer, SocketFlags.None, from, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // An ICMP error for an earlier answer: serve the next.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _serving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
