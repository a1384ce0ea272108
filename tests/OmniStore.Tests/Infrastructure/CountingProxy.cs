using System.Net;
using System.Net.Sockets;

namespace OmniStore.Tests.Infrastructure;

/// <summary>
/// A TCP proxy on loopback that counts the bytes it forwards in each direction, independently of
/// the nodes' own counters: what crossed the "link" at the socket level.
/// </summary>
public sealed class CountingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private readonly Task _accepting;
    private long _toTarget;
    private long _fromTarget;
    private volatile TaskCompletionSource? _downstreamHold;

    public CountingProxy(IPEndPoint target)
    {
        _target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = Task.Run(AcceptLoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Bytes the target sent through the proxy (downstream).</summary>
    public long FromTarget => Interlocked.Read(ref _fromTarget);

    /// <summary>Bytes sent through the proxy to the target (upstream).</summary>
    public long ToTarget => Interlocked.Read(ref _toTarget);

    /// <summary>
    /// Holds what the target sends (it is read, and forwarded once the returned handle is
    /// disposed): the downstream node waits on an answer that is on its way.
    /// </summary>
    public IDisposable HoldDownstream()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _downstreamHold = hold;
        return new Release(() =>
        {
            _downstreamHold = null;
            hold.TrySetResult();
        });
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(_target, _stop.Token);
            }
            catch (SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_open)
            {
                _open.Add(inbound);
                _open.Add(outbound);
            }

            _ = PumpAsync(inbound, outbound, isUpstream: true);
            _ = PumpAsync(outbound, inbound, isUpstream: false);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool isUpstream)
    {
        var buffer = new byte[128 * 1024];
        try
        {
            var source = from.GetStream();
            var sink = to.GetStream();
            while (true)
            {
                int read = await source.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                Interlocked.Add(ref isUpstream ? ref _toTarget : ref _fromTarget, read);
                if (!isUpstream && _downstreamHold is { } hold)
                {
                    await hold.Task.WaitAsync(_stop.Token);
                }

                await sink.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_open)
        {
            foreach (var client in _open)
            {
                client.Dispose();
            }
        }

        await _accepting;
        _stop.Dispose();
    }

    private sealed class Release(Action release) : IDisposable
    {
        public void Dispose() => release();
    }
}
