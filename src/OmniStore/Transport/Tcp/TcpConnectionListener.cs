using System.Net;
using System.Net.Sockets;

namespace OmniStore.Transport.Tcp;

/// <summary>
/// Accepts TCP connections on one endpoint. An accept that fails does not end the listener: the
/// caller learns why (<see cref="TcpAcceptResult"/>) and decides whether to back off, so running out
/// of descriptors (EMFILE) or kernel buffers for a while never stops a node from accepting again.
/// </summary>
internal sealed class TcpConnectionListener : IAsyncDisposable
{
    /// <summary>
    /// The kernel's queue of connections not yet accepted (capped by net.core.somaxconn). A node
    /// accepts and closes connections over its limits at once, so the queue drains even then.
    /// </summary>
    private const int Backlog = 512;

    private readonly Socket _socket;
    private int _disposed;

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
            socket.Listen(Backlog);
            return new TcpConnectionListener(socket);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot listen on {address}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Waits for the next connection. Never throws for a failed accept: the result says whether a
    /// connection came, the listener was disposed, or the accept failed (and how).
    /// </summary>
    public async Task<TcpAcceptResult> AcceptAsync(CancellationToken cancellationToken)
    {
        try
        {
            var socket = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            return new TcpAcceptResult(TcpAcceptStatus.Accepted, new AcceptedSocket(socket), SocketError.Success, null);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException || (ex is SocketException && Volatile.Read(ref _disposed) != 0))
        {
            return new TcpAcceptResult(TcpAcceptStatus.Stopped, null, SocketError.OperationAborted, null);
        }
        catch (SocketException ex)
        {
            // A connection that was reset before it was accepted fails alone; anything else (out of
            // descriptors, out of kernel memory) fails every accept until it passes.
            var status = ex.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset
                ? TcpAcceptStatus.ConnectionFailed
                : TcpAcceptStatus.ListenerFailed;
            return new TcpAcceptResult(status, null, ex.SocketErrorCode, Describe(ex));
        }
    }

    /// <summary>
    /// The error in words. The runtime folds EMFILE and ENFILE into one socket error (and then names
    /// it ENFILE), and ENOBUFS and ENOMEM likewise, so those are named by what they have in common.
    /// </summary>
    private static string Describe(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.TooManyOpenSockets => "too many open files (EMFILE or ENFILE): the process or the system is out of file descriptors",
        SocketError.NoBufferSpaceAvailable => "no buffer space available (ENOBUFS or ENOMEM): the kernel is short of memory",
        _ => $"{ex.Message} ({ex.SocketErrorCode})",
    };

    public ValueTask DisposeAsync()
    {
        Volatile.Write(ref _disposed, 1);
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
