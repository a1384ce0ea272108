using System.Net;
using System.Net.Sockets;

namespace OmniStore.Transport.Tcp;

/// <summary>
/// Accepts TCP connections on every address a host name resolves to (<c>localhost</c>: 127.0.0.1
/// and ::1 where the host has IPv6), as one listener. An accept that fails does not end it: the
/// caller learns why and decides whether to back off, so running out of descriptors (EMFILE) or
/// kernel buffers for a while never stops a node from accepting again.
/// </summary>
internal sealed class TcpConnectionListener : IConnectionListener
{
    /// <summary>
    /// The kernel's queue of connections not yet accepted (capped by net.core.somaxconn). A node
    /// accepts and closes connections over its limits at once, so the queue drains even then.
    /// </summary>
    private const int Backlog = 512;

    // SOL_SOCKET and SO_REUSEADDR, which differ between Linux and the BSDs (macOS included).
    private const int LinuxSolSocket = 1;
    private const int LinuxSoReuseAddr = 2;
    private const int BsdSolSocket = 0xffff;
    private const int BsdSoReuseAddr = 0x4;

    private readonly Socket[] _sockets;

    // One accept in progress per socket, kept across calls: a call returns the first that
    // completes and leaves the others waiting.
    private readonly Task<AcceptResult>?[] _pending;
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;

    private TcpConnectionListener(Socket[] sockets, string scheme)
    {
        _sockets = sockets;
        _pending = new Task<AcceptResult>?[sockets.Length];
        Addresses = [.. sockets.Select(s => (IPEndPoint)s.LocalEndPoint!).Select(e => new NodeAddress(scheme, e.Address.ToString(), e.Port))];
    }

    public IReadOnlyList<NodeAddress> Addresses { get; }

    /// <summary>Binds every address <paramref name="address"/>'s host resolves to, all on its port (with port 0, the first picks one and the others take the same).</summary>
    public static TcpConnectionListener Bind(NodeAddress address)
    {
        var ips = Internal.HostResolver.Resolve(address);
        var sockets = new List<Socket>();
        try
        {
            int port = address.Port;
            foreach (var ip in ips)
            {
                var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                try
                {
                    AllowRestartWhileConnectionsLinger(socket);
                    if (ip.AddressFamily == AddressFamily.InterNetworkV6)
                    {
                        socket.DualMode = false; // the IPv4 addresses are bound on their own
                    }

                    socket.Bind(new IPEndPoint(ip, port));
                    socket.Listen(Backlog);
                }
                catch (SocketException ex) when (sockets.Count > 1 && ex.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported)
                {
                    // A second family the host does not have (::1 without IPv6): the others serve.
                    sockets.Remove(socket);
                    socket.Dispose();
                    continue;
                }

                port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            }

            return new TcpConnectionListener([.. sockets], address.Scheme);
        }
        catch (SocketException ex)
        {
            sockets.ForEach(s => s.Dispose());
            string reason = ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? "the address is in use (another process, or another node, listens there)"
                : $"{ex.Message} ({ex.SocketErrorCode})";
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot listen on {address}: {reason}", ex);
        }
    }

    /// <summary>
    /// Lets a node restarted on its port bind while the connections of the one before are still in
    /// TIME_WAIT (SO_REUSEADDR on Unix), and never lets two listeners share a port. .NET's
    /// <see cref="SocketOptionName.ReuseAddress"/> sets SO_REUSEPORT as well on Unix, with which a
    /// second node would bind the same port and the kernel split new connections between the two,
    /// so SO_REUSEADDR alone is set here directly (the runtime also sets it on TCP sockets it binds
    /// on Unix today; set here, the restart does not depend on that). Windows needs nothing: there
    /// SO_REUSEADDR means taking over a port in use, and TIME_WAIT does not keep a listener out.
    /// </summary>
    private static void AllowRestartWhileConnectionsLinger(Socket socket)
    {
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(LinuxSolSocket, LinuxSoReuseAddr, BitConverter.GetBytes(1));
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            socket.SetRawSocketOption(BsdSolSocket, BsdSoReuseAddr, BitConverter.GetBytes(1));
        }
    }

    public async Task<AcceptResult> AcceptAsync(CancellationToken cancellationToken)
    {
        if (_sockets.Length == 1)
        {
            return await AcceptOneAsync(_sockets[0], cancellationToken).ConfigureAwait(false);
        }

        for (int i = 0; i < _sockets.Length; i++)
        {
            _pending[i] ??= AcceptOneAsync(_sockets[i], _stop.Token);
        }

        var done = await Task.WhenAny(_pending!).WaitAsync(cancellationToken).ConfigureAwait(false);
        _pending[Array.IndexOf(_pending, done)] = null;
        return await done.ConfigureAwait(false);
    }

    private async Task<AcceptResult> AcceptOneAsync(Socket listener, CancellationToken cancellationToken)
    {
        try
        {
            var socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            return new AcceptResult(AcceptStatus.Accepted, new AcceptedSocket(socket), null);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException || (ex is SocketException && Volatile.Read(ref _disposed) != 0))
        {
            return AcceptResult.Stopped;
        }
        catch (SocketException ex)
        {
            // A connection that was reset before it was accepted fails alone; anything else (out of
            // descriptors, out of kernel memory) fails every accept until it passes.
            var status = ex.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset
                ? AcceptStatus.ConnectionFailed
                : AcceptStatus.ListenerFailed;
            return new AcceptResult(status, null, Describe(ex));
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
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stop.Cancel();
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }

            _stop.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
