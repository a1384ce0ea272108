using System.Net;
using System.Net.Sockets;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// A UDP forwarder on loopback between one client and one server that loses, duplicates, reorders
/// and delays datagrams (seeded, so a failure repeats): the client dials the shim's front port, and
/// the server sees the shim's back socket as its client. It can also move the client to a new
/// address (a NAT rebinding: the back socket is replaced) or go silent (a vanished peer). Runs
/// until disposed; every loop is bounded by the sockets' lives.
/// </summary>
internal sealed class LossyUdpShim : IDisposable
{
    private readonly Socket _front = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly IPEndPoint _server;
    private readonly Random _random;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly TimeSpan _delay;
    private readonly double _bytesPerSecond;
    private readonly TimeSpan _queue;
    private readonly PriorityQueue<(long Due, byte[] Data, bool ToServer), long> _line = new();
    private readonly long[] _departure = new long[2]; // when the link each way is free again (Stopwatch ticks)
    private readonly SemaphoreSlim _lineSignal = new(0);
    private Socket _back;
    private EndPoint? _client;
    private (byte[] Data, bool ToServer)? _held;

    /// <param name="oneWayDelay">Added to every datagram each way (a long path).</param>
    /// <param name="bitsPerSecond">The path's rate each way (0: unlimited), with a drop-tail queue of <paramref name="queue"/> behind it.</param>
    public LossyUdpShim(IPEndPoint server, double loss = 0, double duplicate = 0, double reorder = 0, int seed = 1, TimeSpan oneWayDelay = default, long bitsPerSecond = 0, TimeSpan queue = default)
    {
        _delay = oneWayDelay;
        _bytesPerSecond = bitsPerSecond / 8.0;
        _queue = queue == default ? TimeSpan.FromMilliseconds(50) : queue;
        if (oneWayDelay > TimeSpan.Zero || bitsPerSecond > 0)
        {
            _loops.Add(Task.Factory.StartNew(DelayLoop, TaskCreationOptions.LongRunning));
        }

        _server = server;
        _random = new Random(seed);
        Loss = loss;
        Duplicate = duplicate;
        Reorder = reorder;
        _front.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _front.ReceiveTimeout = 200;
        _back = NewBack();
        _loops.Add(Task.Factory.StartNew(FrontLoop, TaskCreationOptions.LongRunning));
        _loops.Add(Task.Factory.StartNew(() => BackLoop(_back), TaskCreationOptions.LongRunning));
    }

    public double Loss { get; set; }

    public double Duplicate { get; set; }

    public double Reorder { get; set; }

    /// <summary>Datagrams larger than this are dropped (a path whose MTU shrinks: a new route, a tunnel).</summary>
    public int MaxDatagram { get; set; } = int.MaxValue;

    /// <summary>Drops everything, both ways (a peer that vanished, or a cut link).</summary>
    public bool Blackhole { get; set; }

    public IPEndPoint FrontEndPoint => (IPEndPoint)_front.LocalEndPoint!;

    public long Forwarded;
    public long Dropped;

    private readonly MemoryStream _captured = new();
    private int _largeTowardClient;

    /// <summary>Keeps a copy of every datagram forwarded, both ways (an eavesdropper on the path).</summary>
    public bool Capture { get; init; }

    /// <summary>Flips a byte near the end of the n-th datagram of over 1000 bytes toward the client (0: none): a party on the path that alters data.</summary>
    public int FlipLargeTowardClient { get; init; }

    /// <summary>What <see cref="Capture"/> kept.</summary>
    public byte[] Captured()
    {
        lock (_captured)
        {
            return _captured.ToArray();
        }
    }

    /// <summary>The client's datagrams leave from a new port from now on: the server sees its peer move.</summary>
    public void Rebind()
    {
        var old = _back;
        var fresh = NewBack();
        lock (_gate)
        {
            _back = fresh;
        }

        _loops.Add(Task.Factory.StartNew(() => BackLoop(fresh), TaskCreationOptions.LongRunning));
        _ = Task.Delay(500).ContinueWith(_ => old.Dispose(), TaskScheduler.Default); // late answers to the old port still pass for a moment
    }

    private static Socket NewBack()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.ReceiveTimeout = 200;
        return socket;
    }

    private void FrontLoop()
    {
        var buffer = new byte[65536];
        while (!_stop.IsCancellationRequested)
        {
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int read;
            try
            {
                read = _front.ReceiveFrom(buffer, ref from);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            lock (_gate)
            {
                _client = from;
            }

            Forward(buffer.AsSpan(0, read).ToArray(), toServer: true);
        }
    }

    private void BackLoop(Socket back)
    {
        var buffer = new byte[65536];
        while (!_stop.IsCancellationRequested)
        {
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int read;
            try
            {
                read = back.ReceiveFrom(buffer, ref from);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                if (_stop.IsCancellationRequested || back.SafeHandle.IsClosed)
                {
                    return;
                }

                continue;
            }

            Forward(buffer.AsSpan(0, read).ToArray(), toServer: false);
        }
    }

    private void Forward(byte[] datagram, bool toServer)
    {
        if (Capture)
        {
            lock (_captured)
            {
                _captured.Write(datagram);
            }
        }

        if (!toServer && datagram.Length > 1000 && FlipLargeTowardClient > 0 && Interlocked.Increment(ref _largeTowardClient) == FlipLargeTowardClient)
        {
            datagram[^100] ^= 0x01;
        }

        (byte[] Data, bool ToServer)? release = null;
        int copies = 1;
        lock (_gate)
        {
            if (Blackhole || datagram.Length > MaxDatagram || _random.NextDouble() < Loss)
            {
                Interlocked.Increment(ref Dropped);
                return;
            }

            if (_random.NextDouble() < Duplicate)
            {
                copies = 2;
            }

            if (_held is null && _random.NextDouble() < Reorder)
            {
                _held = (datagram, toServer); // goes after the next one
                return;
            }

            release = _held;
            _held = null;
        }

        for (int i = 0; i < copies; i++)
        {
            Enqueue(datagram, toServer);
        }

        if (release is { } late)
        {
            Enqueue(late.Data, late.ToServer);
        }
    }

    /// <summary>Straight on, or into the delay line: each way a link of the rate given, its queue, then the delay.</summary>
    private void Enqueue(byte[] datagram, bool toServer)
    {
        if (_delay <= TimeSpan.Zero && _bytesPerSecond <= 0)
        {
            Send(datagram, toServer);
            return;
        }

        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        long frequency = System.Diagnostics.Stopwatch.Frequency;
        lock (_line)
        {
            int way = toServer ? 0 : 1;
            long start = Math.Max(now, _departure[way]);
            if (_bytesPerSecond > 0 && start - now > _queue.TotalSeconds * frequency)
            {
                Interlocked.Increment(ref Dropped); // the queue is full: drop-tail
                return;
            }

            long serialization = _bytesPerSecond > 0 ? (long)((datagram.Length + 28) / _bytesPerSecond * frequency) : 0;
            _departure[way] = start + serialization;
            long due = _departure[way] + (long)(_delay.TotalSeconds * frequency);
            _line.Enqueue((due, datagram, toServer), due);
        }

        _lineSignal.Release();
    }

    private void DelayLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                _lineSignal.Wait(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            (long Due, byte[] Data, bool ToServer) next;
            lock (_line)
            {
                if (!_line.TryPeek(out next, out _))
                {
                    continue;
                }
            }

            // The earliest due goes first; one that arrives meanwhile due sooner is looked at on the next turn.
            if (next.Due > System.Diagnostics.Stopwatch.GetTimestamp() + (System.Diagnostics.Stopwatch.Frequency / 500))
            {
                Thread.Sleep(1);
                _lineSignal.Release(); // look again
                continue;
            }

            lock (_line)
            {
                _line.TryDequeue(out next, out _);
            }

            while (System.Diagnostics.Stopwatch.GetTimestamp() < next.Due && !_stop.IsCancellationRequested)
            {
                long left = next.Due - System.Diagnostics.Stopwatch.GetTimestamp();
                if (left > System.Diagnostics.Stopwatch.Frequency / 500)
                {
                    Thread.Sleep(1);
                }
                else
                {
                    Thread.SpinWait(50);
                }
            }

            Send(next.Data, next.ToServer);
        }
    }

    private void Send(byte[] datagram, bool toServer)
    {
        try
        {
            Socket back;
            EndPoint? client;
            lock (_gate)
            {
                back = _back;
                client = _client;
            }

            if (toServer)
            {
                back.SendTo(datagram, _server);
            }
            else if (client is not null)
            {
                _front.SendTo(datagram, client);
            }

            Interlocked.Increment(ref Forwarded);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _front.Dispose();
        _back.Dispose();
        Task.WaitAll([.. _loops], TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
