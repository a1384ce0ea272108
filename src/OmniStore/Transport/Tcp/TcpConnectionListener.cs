using System.Net;
using System.Net.Sockets;

namespace OmniStore.Transport.Tcp;

/// <summary>Accepts TCP connections on one endpoint.</summary>
internal sealed class TcpConnectionListener : IAsyncDisposable
{
    private readonly Socket _socket;

    private TcpConnectionListener(Socket socket) => _socket = socket;

    /// <summary>The bound endpoint (useful with port 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public static TcpConnectionListener Bind(NodeAddress address)
    {
        var ip = address.Host is "localhost" ? IPAddress.Loopback
            : address.Host is "*" or "0.0.0.0" ? IPAddress.Any
            : IPAddress.TryParse(address.Host, out var parsed) ? parsed
            : Dns.GetHostAddresses(address.Host).FirstOrDefault() ?? throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Cannot resolve {address.Host}.");
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(ip, address.Port));
            socket.Listen(512);
            return new TcpConnectionListener(socket);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot listen on {address}: {ex.Message}", ex);
        }
    }

    /// <summary>Waits for the next connection; null once the listener is disposed.</summary>
    public async Task<(TcpConnection Connection, LinkCounters Counters)?> AcceptAsync(CancellationToken cancellationToken)
    {
        try
        {
            var socket = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            var counters = new LinkCounters();
            return (new TcpConnection(socket, counters), counters);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException or SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted })
        {
            return null;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
