using System.Net.Sockets;
using OmniStore.Protocol;

namespace OmniStore.Tests.Infrastructure;

/// <summary>
/// A peer that speaks the frame protocol by hand over a plain socket, as an attacker's script
/// would: it can send any frame, on any stream, and read (or not read) what comes back.
/// </summary>
internal sealed class RawPeer : IAsyncDisposable
{
    private readonly Socket _socket;

    private RawPeer(Socket socket)
    {
        _socket = socket;
        Stream = new NetworkStream(socket, ownsSocket: false);
    }

    public NetworkStream Stream { get; }

    public Socket Socket => _socket;

    /// <summary>Connects and completes the handshake as <paramref name="role"/> without a secret, offering protocol versions up to <paramref name="maxVersion"/>.</summary>
    public static async Task<RawPeer> ConnectAsync(int port, CancellationToken ct, NodeRole role = NodeRole.Client, int receiveBuffer = 0, ushort maxVersion = ProtocolLimits.MaxVersion)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        if (receiveBuffer > 0)
        {
            socket.ReceiveBufferSize = receiveBuffer;
        }

        await socket.ConnectAsync("127.0.0.1", port, ct);
        var peer = new RawPeer(socket);
        using var key = NodeIdentity.Create();
        var hello = new HelloMessage(ProtocolLimits.MinVersion, maxVersion, key.Id, role, "raw", Handshake.NewNonce(), false, []).Encode();
        await peer.SendAsync(Frame(FrameType.Hello, 0, hello), ct);
        var answer = await peer.ReadFrameAsync(ct);
        Assert.Equal((byte)FrameType.Hello, answer[4]);
        await peer.SendAsync(Frame(FrameType.Auth, 0, Handshake.SignAuth(key, hello, answer.AsSpan(ProtocolLimits.HeaderSize), [], [])), ct);
        Assert.Equal((byte)FrameType.Ready, (await peer.ReadFrameAsync(ct))[4]);
        return peer;
    }

    public async Task SendAsync(byte[] bytes, CancellationToken ct) => await Stream.WriteAsync(bytes, ct);

    /// <summary>Reads one whole frame (header and payload).</summary>
    public async Task<byte[]> ReadFrameAsync(CancellationToken ct)
    {
        var header = new byte[ProtocolLimits.HeaderSize];
        await Stream.ReadExactlyAsync(header, ct);
        int length = BitConverter.ToInt32(header, 0);
        var rest = new byte[length - 8];
        await Stream.ReadExactlyAsync(rest, ct);
        return [.. header, .. rest];
    }

    /// <summary>Reads the whole message of the next stream that answers: its frames' payloads joined.</summary>
    public async Task<(FrameType Type, uint Stream, byte[] Payload)> ReadMessageAsync(CancellationToken ct)
    {
        var parts = new Dictionary<uint, List<byte>>();
        while (true)
        {
            var frame = await ReadFrameAsync(ct);
            uint stream = BitConverter.ToUInt32(frame, 8);
            if (!parts.TryGetValue(stream, out var part))
            {
                parts[stream] = part = [];
            }

            part.AddRange(frame.AsSpan(ProtocolLimits.HeaderSize).ToArray());
            if ((frame[5] & (byte)FrameFlags.End) != 0)
            {
                return ((FrameType)frame[4], stream, part.ToArray());
            }
        }
    }

    /// <summary>Whether the node closed this connection within <paramref name="timeout"/> (reading and dropping whatever it sent first).</summary>
    public async Task<bool> ClosedWithinAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        var sink = new byte[64 * 1024];
        try
        {
            while (await Stream.ReadAsync(sink, limit.Token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
        catch (IOException)
        {
            return true; // reset
        }
    }

    /// <summary>One frame: header then payload; <paramref name="end"/> sets the END flag.</summary>
    public static byte[] Frame(FrameType type, uint stream, ReadOnlySpan<byte> payload, bool end = true)
    {
        var bytes = new byte[ProtocolLimits.HeaderSize + payload.Length];
        new FrameHeader(type, end ? FrameFlags.End : FrameFlags.None, stream, payload.Length).Write(bytes);
        payload.CopyTo(bytes.AsSpan(ProtocolLimits.HeaderSize));
        return bytes;
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        _socket.Dispose();
    }
}
