using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OmniStore.Tests.Nat.PortMapping;

/// <summary>
/// A NAT-PMP/PCP server on loopback for tests: records each request (bytes and arrival time) and
/// answers with what <see cref="Answer"/> returns (null: no answer), from its own port or, when
/// <see cref="AnswerFrom"/> is set, from that socket instead.
/// </summary>
internal sealed class FakeUdpGateway : IAsyncDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(byte[] Request, TimeSpan At)> _requests = [];

    public FakeUdpGateway(Func<byte[], int, byte[]?> answer)
    {
        Answer = answer;
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Gets a request and how many came before it; returns the answer, or null for none.</summary>
    public Func<byte[], int, byte[]?> Answer { get; set; }

    /// <summary>When set, answers go out from this socket (another port), as a spoofer's would.</summary>
    public Socket? AnswerFrom { get; set; }

    public IPAddress Address => ((IPEndPoint)_socket.LocalEndPoint!).Address;

    public int Port => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    public IReadOnlyList<(byte[] Request, TimeSpan At)> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        try
        {
            await _loop;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        var buffer = new byte[2048];
        while (!_stop.IsCancellationRequested)
        {
            var received = await _socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
            var request = buffer[..received.ReceivedBytes];
            int before;
            lock (_requests)
            {
                before = _requests.Count;
                _requests.Add((request, _clock.Elapsed));
            }

            if (Answer(request, before) is { } answer)
            {
                await (AnswerFrom ?? _socket).SendToAsync(answer, received.RemoteEndPoint, _stop.Token);
            }
        }
    }
}
