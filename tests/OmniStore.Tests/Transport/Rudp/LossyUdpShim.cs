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
    private Socket _back;
    private EndPoint? _client;
    private (byte[] Data, bool ToServer)? _held;

    public LossyUdpShim(IPEndPoint server, double loss = 0, double duplicate = 0, double reorder = 0, int seed = 1)
    {
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

    /// <summary>Drops everything, both ways (a peer that vanished, or a cut link).</summary>
    public bool Blackhole { get; set; }

    public IPEndPoint FrontEndPoint => (IPEndPoint)_front.LocalEndPoint!;

    public long Forwarded;
    public long Dropped;

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
        (byte[] Data, bool ToServer)? release = null;
        int copies = 1;
        lock (_gate)
        {
            if (Blackhole || _random.NextDouble() < Loss)
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
            Send(datagram, toServer);
        }

        if (release is { } late)
        {
            Send(late.Data, late.ToServer);
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
