using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OmniStore.Lab.Tests.Infrastructure;

/// <summary>Sockets made inside a site's namespace (they stay there), and the measurements the wire tests take with them.</summary>
public static class LabSockets
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static Socket Udp(LabSite site, IPAddress bind, int port = 0) => site.RunInNamespace(() =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        // SO_RCVBUFFORCE (root only) goes past net.core.rmem_max: a receiver held up for a moment on a
        // busy machine must not drop datagrams, or the loss tests would count its drops as the wire's.
        socket.SetRawSocketOption(SolSocket, SoRcvBufForce, BitConverter.GetBytes(16 << 20));
        socket.Bind(new IPEndPoint(bind, port));
        return socket;
    });

    private const int SolSocket = 1;
    private const int SoRcvBufForce = 33;

    public static Socket Tcp(LabSite site) => site.RunInNamespace(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));

    public static Socket Listen(LabSite site, IPAddress bind, int port = 0) => site.RunInNamespace(() =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(bind, port));
        socket.Listen();
        return socket;
    });

    public static int Port(Socket socket) => ((IPEndPoint)socket.LocalEndPoint!).Port;

    /// <summary>Round-trip times of <paramref name="probes"/> UDP probes sent one after another from <paramref name="from"/> to an echo at <paramref name="to"/>, in milliseconds.</summary>
    public static async Task<double[]> MeasureRttAsync(LabSite from, LabSite to, int probes, CancellationToken cancellationToken)
    {
        using var echo = Udp(to, to.Address);
        using var client = Udp(from, from.Address);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var echoLoop = Task.Run(
            async () =>
            {
                var buffer = new byte[2048];
                while (!stop.IsCancellationRequested)
                {
                    var received = await echo.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), stop.Token);
                    await echo.SendToAsync(buffer.AsMemory(0, received.ReceivedBytes), received.RemoteEndPoint, stop.Token);
                }
            },
            stop.Token);

        var target = new IPEndPoint(to.Address, Port(echo));
        var payload = new byte[64];
        var answer = new byte[2048];
        const int warmUp = 5; // the first probes also time JIT compilation here and the wire's first wake-ups
        var rtts = new double[probes + warmUp];
        for (var i = 0; i < rtts.Length; i++)
        {
            BitConverter.TryWriteBytes(payload, i);
            var sent = Stopwatch.GetTimestamp();
            await client.SendToAsync(payload, target, cancellationToken);
            while (true)
            {
                var length = await client.ReceiveAsync(answer, cancellationToken).AsTask().WaitAsync(Timeout, cancellationToken);
                if (length >= 4 && BitConverter.ToInt32(answer) == i)
                {
                    break;
                }
            }

            rtts[i] = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
        }

        await stop.CancelAsync();
        await Task.WhenAny(echoLoop);
        return rtts[warmUp..];
    }

    /// <summary>
    /// Sends <paramref name="count"/> numbered UDP datagrams from <paramref name="from"/> to <paramref name="to"/>,
    /// paced well below what the receiver can take, and returns the sequence numbers received, in arrival order.
    /// </summary>
    public static async Task<List<int>> SendNumberedAsync(LabSite from, LabSite to, int count, CancellationToken cancellationToken)
    {
        using var receiver = Udp(to, to.Address);
        using var sender = Udp(from, from.Address);
        var arrived = new List<int>(count);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var lastArrival = Stopwatch.GetTimestamp();
        var receive = Task.Run(
            async () =>
            {
                var buffer = new byte[2048];
                try
                {
                    while (true)
                    {
                        var length = await receiver.ReceiveAsync(buffer, stop.Token);
                        if (length >= 4)
                        {
                            arrived.Add(BitConverter.ToInt32(buffer));
                            Volatile.Write(ref lastArrival, Stopwatch.GetTimestamp());
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                }
            },
            CancellationToken.None);

        var target = new IPEndPoint(to.Address, Port(receiver));
        var payload = new byte[200];
        for (var i = 0; i < count; i++)
        {
            BitConverter.TryWriteBytes(payload, i);
            await sender.SendToAsync(payload, target, cancellationToken);
            if (i % 20 == 19)
            {
                await Task.Delay(1, cancellationToken);
            }
        }

        // Done when nothing has arrived for a while longer than any delay the tests configure.
        var deadline = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(Volatile.Read(ref lastArrival)) < TimeSpan.FromMilliseconds(500) &&
            Stopwatch.GetElapsedTime(deadline) < Timeout)
        {
            await Task.Delay(50, cancellationToken);
        }

        await stop.CancelAsync();
        await receive.WaitAsync(Timeout, cancellationToken);
        return arrived;
    }

    /// <summary>
    /// Streams TCP from <paramref name="from"/> to <paramref name="to"/> for a while and returns the
    /// rate, in bits per second, at which <paramref name="counted"/> IP bytes grew over the last
    /// two seconds (after the connection's start-up).
    /// </summary>
    public static async Task<double> MeasureRateAsync(LabSite from, LabSite to, Func<WanLinkCounters, long> counted, LabSite countedAt, CancellationToken cancellationToken)
    {
        using var listener = Listen(to, to.Address);
        using var client = Tcp(from);
        await client.ConnectAsync(new IPEndPoint(to.Address, Port(listener)), cancellationToken).AsTask().WaitAsync(Timeout, cancellationToken);
        using var server = await listener.AcceptAsync(cancellationToken).AsTask().WaitAsync(Timeout, cancellationToken);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        var drain = Task.Run(
            async () =>
            {
                var buffer = new byte[256 * 1024];
                while (await server.ReceiveAsync(buffer, stop.Token) > 0)
                {
                }
            },
            CancellationToken.None);
        var send = Task.Run(
            async () =>
            {
                var buffer = new byte[64 * 1024];
                Random.Shared.NextBytes(buffer);
                while (!stop.IsCancellationRequested)
                {
                    await client.SendAsync(buffer, stop.Token);
                }
            },
            CancellationToken.None);

        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        var (first, firstAt) = await ReadAsync();
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var (second, secondAt) = await ReadAsync();

        await stop.CancelAsync();
        client.Close();
        server.Close();
        await Task.WhenAny(Task.WhenAll(drain, send), Task.Delay(Timeout, CancellationToken.None));
        return counted(second - first) * 8 / (secondAt - firstAt);

        async Task<(WanLinkCounters Counters, double Seconds)> ReadAsync()
        {
            // Stamped halfway through the read, which takes a few milliseconds (it runs cat in the namespaces).
            var before = Stopwatch.GetTimestamp();
            var counters = await countedAt.ReadWanCountersAsync(cancellationToken);
            var after = Stopwatch.GetTimestamp();
            return (counters, (before + after) / 2.0 / Stopwatch.Frequency);
        }
    }

    /// <summary>True when a TCP connection from <paramref name="from"/> to the endpoint opens within <paramref name="timeout"/>.</summary>
    public static async Task<bool> CanConnectAsync(LabSite from, IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var socket = Tcp(from);
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).AsTask().WaitAsync(timeout, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is SocketException or TimeoutException)
        {
            return false;
        }
    }
}
