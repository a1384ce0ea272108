using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace OmniStore.Lab.Internal;

/// <summary>
/// A STUN Binding responder in the WAN core, for miniupnpd. miniupnpd refuses to forward ports when
/// its external interface has a reserved address (198.18.0.0/15 is one) unless STUN shows that
/// nothing in front of it filters: it sends four Binding requests (with CHANGE-REQUEST flags) and
/// wants four answers with its own address and ports. A server with one address answers them all
/// from that address, as this one does, which is what a gateway with a public address would see.
/// </summary>
internal sealed class LabStunResponder : IAsyncDisposable
{
    /// <summary>The port it listens on (STUN's).</summary>
    public const int Port = 3478;

    private readonly Socket _socket;
    private readonly Task _loop;

    private LabStunResponder(Socket socket)
    {
        _socket = socket;
        _loop = Task.Run(AnswerAsync);
    }

    /// <summary>Listens on <paramref name="address"/>:3478 inside namespace <paramref name="ns"/>.</summary>
    public static LabStunResponder Start(string ns, IPAddress address)
    {
        var socket = NetworkNamespace.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        try
        {
            socket.Bind(new IPEndPoint(address, Port));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new LabStunResponder(socket);
    }

    /// <summary>Closes the socket and waits for the loop to end.</summary>
    public async ValueTask DisposeAsync()
    {
        _socket.Dispose();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Closed.
        }
    }

    private async Task AnswerAsync()
    {
        var buffer = new byte[1500];
        var answer = new byte[32];
        while (true)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }

            // A Binding request: type 0x0001, the magic cookie; its attributes (CHANGE-REQUEST) are ignored.
            if (received.ReceivedBytes < 20 || buffer[0] != 0 || buffer[1] != 1 || BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(4)) != 0x2112A442 ||
                received.RemoteEndPoint is not IPEndPoint { AddressFamily: AddressFamily.InterNetwork } from)
            {
                continue;
            }

            BinaryPrimitives.WriteUInt16BigEndian(answer, 0x0101); // Binding success
            BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(2), 12); // one MAPPED-ADDRESS
            buffer.AsSpan(4, 16).CopyTo(answer.AsSpan(4)); // cookie and transaction id
            BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(20), 0x0001); // MAPPED-ADDRESS
            BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(22), 8);
            answer[24] = 0;
            answer[25] = 1; // IPv4
            BinaryPrimitives.WriteUInt16BigEndian(answer.AsSpan(26), (ushort)from.Port);
            from.Address.TryWriteBytes(answer.AsSpan(28), out _);
            try
            {
                await _socket.SendToAsync(answer, SocketFlags.None, from).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                // Not answered; the client asks again.
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }
}
