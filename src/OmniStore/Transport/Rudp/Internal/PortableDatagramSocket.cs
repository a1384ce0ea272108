using System.Net;
using System.Net.Sockets;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// The portable path (docs/rudp.md, "The Linux fast path"): <see cref="Socket.ReceiveFrom(Span{byte}, SocketFlags, SocketAddress)"/>
/// and <see cref="Socket.SendTo(ReadOnlySpan{byte}, SocketFlags, SocketAddress)"/>, one datagram per call, no allocation per datagram.
/// </summary>
internal sealed class PortableDatagramSocket : DatagramSocket
{
    private readonly Socket _socket;

    protected override Socket Underlying => _socket;

    private PortableDatagramSocket(Socket socket)
    {
        _socket = socket;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    public override IPEndPoint LocalEndPoint { get; }

    public override string Mode => "portable";

    public static PortableDatagramSocket Open(IPEndPoint local) => new(CreateBound(local));

    public override int Receive(DatagramBatch batch)
    {
        try
        {
            int read = _socket.ReceiveFrom(batch.Buffers[0], SocketFlags.None, batch.Addresses[0]);
            batch.Lengths[0] = read;
            batch.SegmentSizes[0] = 0;
            return 1;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock or SocketError.Interrupted)
        {
            return 0;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.ConnectionRefused)
        {
            // ICMP errors of an earlier send, or a datagram larger than the buffer: nothing to hand up.
            return 0;
        }
        catch (SocketException) when (!_socket.Connected && _disposed)
        {
            throw new ObjectDisposedException(nameof(PortableDatagramSocket));
        }
    }

    public override void Send(ReadOnlySpan<OutgoingDatagrams> items)
    {
        foreach (var item in items)
        {
            var data = item.Data.Span;
            int segment = item.SegmentSize <= 0 ? data.Length : item.SegmentSize;
            for (int at = 0; at < data.Length; at += segment)
            {
                var datagram = data.Slice(at, Math.Min(segment, data.Length - at));
                try
                {
                    _socket.SendTo(datagram, SocketFlags.None, item.To);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is not SocketError.OperationAborted and not SocketError.Shutdown && !_disposed)
                {
                    CountSendDrop();
                }
                catch (SocketException) when (_disposed)
                {
                    throw new ObjectDisposedException(nameof(PortableDatagramSocket));
                }
            }
        }
    }

    private volatile bool _disposed;

    public override void Dispose()
    {
        _disposed = true;
        _socket.Dispose();
    }
}
