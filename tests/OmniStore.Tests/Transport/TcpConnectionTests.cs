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
    /// <summary>The kernel's count of bytes the peer acknowledged (TCP_INFO), read at the right offset: after 1 MiB is read, it is 1 MiB.</summary>
    [Fact]
    public async Task BytesAcknowledged_IsWhatThePeerTook()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "TCP_INFO is Linux's");
        var ct = TestContext.Current.CancellationToken;
        await using var listener = OmniStore.Transport.Tcp.TcpTransport.Instance.Listen(new NodeAddress("tcp", "127.0.0.1", 0));
        var accepting = listener.AcceptAsync(ct);
        await using var client = await OmniStore.Transport.Tcp.TcpTransport.Instance.ConnectAsync(listener.Addresses[0], new LinkCounters(), ct);
        var accepted = (await accepting).Connection!.Open(new LinkCounters())!;
        await using var _ = accepted;
        var progress = client.GetFeature<ISendProgress>()!;
        long before = progress.BytesAcknowledged!.Value;

        await client.Output.WriteAsync(new byte[1 << 20], ct);
        long read = 0;
        while (read < 1 << 20)
        {
            var result = await accepted.Input.ReadAsync(ct);
            read += result.Buffer.Length;
            accepted.Input.AdvanceTo(result.Buffer.End);
        }

        for (int i = 0; i < 100 && progress.BytesAcknowledged - before < 1 << 20; i++)
        {
            await Task.Delay(10, ct);
        }

        Assert.Equal(1 << 20, progress.BytesAcknowledged - before);
    }
}
