using System.Net;
using System.Net.Sockets;

namespace OmniStore.Tests.Infrastructure;

/// <summary>A TCP proxy on loopback, for any number of connections, that keeps a copy of everything it carries, and can flip one byte toward the client of each.</summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly MemoryStream _captured = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _running;

    public TcpProxy(int serverPort)
    {
        _listener.Start();
        _running = Task.Run(async () =>
        {
            var connections = new List<Task>();
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var front = await _listener.AcceptTcpClientAsync(_stop.Token);
                    connections.Add(Task.Run(async () =>
                    {
                        using (front)
                        using (var back = new TcpClient())
                        {
                            await back.ConnectAsync(IPAddress.Loopback, serverPort, _stop.Token);
                            await Task.WhenAll(
                                PumpAsync(front.GetStream(), back.GetStream(), flipAt: -1),
                                PumpAsync(back.GetStream(), front.GetStream(), FlipTowardClientAt));
                        }
                    }));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // stopped
            }

            await Task.WhenAll(connections).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        });
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The byte of the server-to-client stream to flip (-1: none).</summary>
    public long FlipTowardClientAt { get; init; } = -1;

    public byte[] Captured()
    {
        lock (_captured)
        {
            return _captured.ToArray();
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, long flipAt)
    {
        var buffer = new byte[16 * 1024];
        long position = 0;
        try
        {
            while (true)
            {
                int read = await from.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    to.Socket.Shutdown(SocketShutdown.Send);
                    return;
                }

                if (flipAt >= position && flipAt < position + read)
                {
                    buffer[flipAt - position] ^= 0x01;
                }

                position += read;
                lock (_captured)
                {
                    _captured.Write(buffer, 0, read);
                }

                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // one side closed
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _running.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}
