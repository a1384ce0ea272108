using System.Net;
using System.Net.Sockets;
using OmniStore.Transport;
using OmniStore.Transport.Tcp;

namespace OmniStore.Tests.Transport;

/// <summary>
/// Closing a TCP connection whose peer is gone never throws: bytes a send left in the output pipe
/// (written, not flushed, when the connection failed) cannot reach anyone, and a client disposing
/// its connection to a relay killed under it must not get an <see cref="IOException"/> out of it.
/// </summary>
public sealed class TcpConnectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static async Task<(TcpConnection Connection, Socket Peer)> ConnectedPairAsync(CancellationToken ct)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var accept = listener.AcceptAsync(ct).AsTask();
        var connection = await TcpConnection.ConnectAsync(new NodeAddress("tcp", "127.0.0.1", port), new LinkCounters(), ct).WaitAsync(Timeout, ct);
        return (connection, await accept.WaitAsync(Timeout, ct));
    }

    [Fact]
    public async Task DisposeAsync_WithUnflushedOutputAndThePeerGone_DoesNotThrow()
    {
        var ct = TestContext.Current.CancellationToken;
        var (connection, peer) = await ConnectedPairAsync(ct);
        peer.Close(0); // reset: the peer process died

        // A send that failed or was cancelled between writing into the pipe and flushing it.
        connection.Output.GetSpan(4096).Fill(0x42);
        connection.Output.Advance(4096);

        await connection.DisposeAsync().AsTask().WaitAsync(Timeout, ct);
    }

    [Fact]
    public async Task DisposeAsync_WithUnflushedOutput_AfterShuttingTheSocket_DoesNotThrow()
    {
        var ct = TestContext.Current.CancellationToken;
        var (connection, peer) = await ConnectedPairAsync(ct);
        using (peer)
        {
            connection.Output.GetSpan(16).Fill(0x42);
            connection.Output.Advance(16);
            await connection.DisposeAsync().AsTask().WaitAsync(Timeout, ct);
        }
    }

    [Fact]
    public async Task CloseOutputAsync_WithThePeerGone_DoesNotThrow()
    {
        var ct = TestContext.Current.CancellationToken;
        var (connection, peer) = await ConnectedPairAsync(ct);
        peer.Close(0);
        await Task.Delay(50, ct); // the reset arrives

        // The first write after a reset may still be taken by the kernel; the one after fails.
        for (int i = 0; i < 2; i++)
        {
            connection.Output.GetSpan(4096).Fill(0x42);
            connection.Output.Advance(4096);
            try
            {
                await connection.Output.FlushAsync(ct).AsTask().WaitAsync(Timeout, ct);
            }
            catch (IOException)
            {
                break; // what the send path sees, and handles
            }
        }

        connection.Output.GetSpan(16).Fill(0x42);
        connection.Output.Advance(16);
        await connection.CloseOutputAsync().AsTask().WaitAsync(Timeout, ct);
        await connection.DisposeAsync().AsTask().WaitAsync(Timeout, ct);
    }
}
