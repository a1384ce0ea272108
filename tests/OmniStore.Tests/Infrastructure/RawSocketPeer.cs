using System.Net;
using System.Net.Sockets;
using OmniStore.Protocol;

namespace OmniStore.Tests.Infrastructure;

/// <summary>
/// A peer that speaks the protocol by hand over a plain socket, the way an attacker does: it
/// connects (from a chosen loopback source address if asked), handshakes or not, writes whatever
/// bytes it likes and reads frames. Every read has a timeout.
/// </summary>
internal sealed class RawSocketPeer : IDisposable
{
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(15);

    private readonly Socket _socket;

    private RawSocketPeer(Socket socket)
    {
        _socket = socket;
        Stream = new NetworkStream(socket, ownsSocket: false);
    }

    public NetworkStream Stream { get; }

    /// <summary>Connects to <paramref name="port"/> on 127.0.0.1 from <paramref name="source"/> (127.0.0.1 if null).</summary>
    public static Task<RawSocketPeer> ConnectAsync(int port, string? source = null, CancellationToken cancellationToken = default) =>
        ConnectAsync(port, source, receiveBuffer: null, cancellationToken);

    /// <summary>
    /// Connects and completes the handshake as a client with a receive buffer of
    /// <paramref name="receiveBuffer"/> bytes: a reader that the node can feed only as fast as it reads.
    /// </summary>
    public static Task<RawSocketPeer> HandshakenSlowReaderAsync(int port, int receiveBuffer, CancellationToken cancellationToken) =>
        HandshakenAsync(port, null, receiveBuffer, cancellationToken);

    /// <summary>Connects and completes the handshake as a client without a secret.</summary>
    public static Task<RawSocketPeer> HandshakenAsync(int port, string? source = null, CancellationToken cancellationToken = default) =>
        HandshakenAsync(port, source, receiveBuffer: null, cancellationToken);

    private static async Task<RawSocketPeer> HandshakenAsync(int port, string? source, int? receiveBuffer, CancellationToken cancellationToken)
    {
        var peer = await ConnectAsync(port, source, receiveBuffer, cancellationToken);
        try
        {
            await peer.HandshakeAsync(cancellationToken);
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    private static async Task<RawSocketPeer> ConnectAsync(int port, string? source, int? receiveBuffer, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (receiveBuffer is int size)
            {
                socket.ReceiveBufferSize = size;
            }

            if (source is not null)
            {
                socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ReadTimeout);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
            return new RawSocketPeer(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        using var key = NodeIdentity.Create();
        var hello = new HelloMessage(ProtocolLimits.MinVersion, ProtocolLimits.MaxVersion, key.Id, NodeRole.Client, "raw", Handshake.NewNonce(), false, []).Encode();
        await Stream.WriteAsync(Frame(FrameType.Hello, FrameFlags.End, 0, hello), cancellationToken);
        var answer = await ReadFrameAsync(cancellationToken);
        Assert.Equal(FrameType.Hello, answer.Type);
        await Stream.WriteAsync(Frame(FrameType.Auth, FrameFlags.End, 0, Handshake.SignAuth(key, hello, answer.Payload, [], [])), cancellationToken);
        Assert.Equal(FrameType.Ready, (await ReadFrameAsync(cancellationToken)).Type);
    }

    /// <summary>Reads the next frame (its header fields and payload).</summary>
    public async Task<(FrameType Type, FrameFlags Flags, uint Stream, byte[] Payload)> ReadFrameAsync(CancellationToken cancellationToken)
    {
        var header = new byte[ProtocolLimits.HeaderSize];
        await Stream.ReadExactlyAsync(header, cancellationToken).AsTask().WaitAsync(ReadTimeout, cancellationToken);
        int length = BitConverter.ToInt32(header, 0);
        Assert.InRange(length, 8, 8 + ProtocolLimits.MaxFramePayload);
        var payload = new byte[length - 8];
        await Stream.ReadExactlyAsync(payload, cancellationToken).AsTask().WaitAsync(ReadTimeout, cancellationToken);
        return ((FrameType)header[4], (FrameFlags)header[5], BitConverter.ToUInt32(header, 8), payload);
    }

    /// <summary>
    /// Reads (and drops) whatever the node sends until it closes the connection, and returns the
    /// frame types read; throws <see cref="TimeoutException"/> if it is still open after <paramref name="within"/>.
    /// </summary>
    public async Task<List<FrameType>> WaitForCloseAsync(TimeSpan within, CancellationToken cancellationToken)
    {
        var types = new List<FrameType>();
        var deadline = DateTime.UtcNow + within;
        var header = new byte[ProtocolLimits.HeaderSize];
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"the node kept the connection open for {within}");
            }

            try
            {
                int read = await Stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken).AsTask().WaitAsync(left, cancellationToken);
                if (read < header.Length)
                {
                    return types;
                }

                int length = BitConverter.ToInt32(header, 0);
                var payload = new byte[Math.Clamp(length - 8, 0, ProtocolLimits.MaxFramePayload)];
                if (await Stream.ReadAtLeastAsync(payload, payload.Length, throwOnEndOfStream: false, cancellationToken) < payload.Length)
                {
                    return types;
                }

                types.Add((FrameType)header[4]);
            }
            catch (IOException)
            {
                return types; // reset: closed as well
            }
        }
    }

    public Task WriteAsync(byte[] bytes, CancellationToken cancellationToken) => Stream.WriteAsync(bytes, cancellationToken).AsTask();

    public void Dispose()
    {
        Stream.Dispose();
        _socket.Dispose();
    }

    public static byte[] Frame(FrameType type, FrameFlags flags, uint stream, byte[] payload)
    {
        var bytes = new byte[ProtocolLimits.HeaderSize + payload.Length];
        new FrameHeader(type, flags, stream, payload.Length).Write(bytes);
        payload.CopyTo(bytes, ProtocolLimits.HeaderSize);
        return bytes;
    }

    public static byte[] Header(FrameType type, FrameFlags flags, uint stream, int payloadLength)
    {
        var bytes = new byte[ProtocolLimits.HeaderSize];
        new FrameHeader(type, flags, stream, payloadLength).Write(bytes);
        return bytes;
    }
}
