using System.Net;
using System.Net.Sockets;

namespace OmniStore.Transport.Tcp;

/// <summary>
/// A TCP connection just accepted, not yet admitted (see <see cref="IncomingConnection"/>). Until
/// it is opened it holds only its socket, so a flood of refused connections costs no pipes or buffers.
/// </summary>
internal sealed class AcceptedSocket : IncomingConnection
{
    /// <summary>What a refusal reads of what the peer already sent, so that closing sends FIN rather than RST.</summary>
    private const int MaxDrain = 4096;

    private readonly Socket _socket;

    internal AcceptedSocket(Socket socket)
    {
        _socket = socket;

        // Set by the accept itself: reading it costs no system call and cannot fail.
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
    }

    public override IPEndPoint? RemoteEndPoint { get; }

    public override TransportConnection? Open(LinkCounters counters)
    {
        try
        {
            return new TcpConnection(_socket, counters);
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            _socket.Dispose();
            return null;
        }
    }

    /// <summary>
    /// Sends <paramref name="farewell"/> (what the protocol says to a refused peer) if the socket's
    /// buffer takes it at once, then closes the socket. Never waits and never throws: a peer that
    /// is not reading, or already gone, just sees the close.
    /// </summary>
    public override void Refuse(ReadOnlySpan<byte> farewell)
    {
        try
        {
            _socket.Blocking = false;
            _socket.Send(farewell, SocketFlags.None, out _);
            _socket.Shutdown(SocketShutdown.Send);

            // Unread bytes at close make the kernel reset the connection, and a reset may discard
            // the farewell before the peer reads it; what has arrived so far is read and dropped.
            Span<byte> sink = stackalloc byte[512];
            for (int drained = 0; drained < MaxDrain && _socket.Available > 0;)
            {
                int read = _socket.Receive(sink, SocketFlags.None, out var error);
                if (read <= 0 || error != SocketError.Success)
                {
                    break;
                }

                drained += read;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            _socket.Dispose();
        }
    }
}
