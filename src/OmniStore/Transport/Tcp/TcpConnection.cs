using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace OmniStore.Transport.Tcp;

/// <summary>
/// A TCP connection as a duplex pipe. Every byte read or written is counted in the link's wire
/// counters, so a node can report what crossed each link independently of the protocol.
/// </summary>
internal sealed class TcpConnection : TransportConnection, IGatheringSender, IDirectReceiver, ISendProgress
{
    private static readonly LinkPath DirectPath = new("tcp", PathType.Direct);

    private const int BufferSize = 256 * 1024;

    /// <summary>
    /// The input pipe's read size. Small frames (requests, control) arrive through the pipe; a large
    /// payload mostly arrives through <see cref="ReceiveExactlyAsync"/>, so the pipe should not read
    /// far into it.
    /// </summary>
    private const int ReadSize = 16 * 1024;
    private readonly Socket _socket;
    private readonly CountingStream _stream;
    private readonly LinkCounters _counters;
    private readonly CancellationTokenSource _closed = new();
    private int _disposed;

    internal TcpConnection(Socket socket, LinkCounters counters)
    {
        _socket = socket;
        _counters = counters;
        _socket.NoDelay = true;
        _stream = new CountingStream(new NetworkStream(socket, ownsSocket: true), counters, this);
        // Zero-byte reads: an idle connection waits for data without holding a read buffer, so
        // thousands of idle peers cost the node little memory (as Kestrel's sockets do).
        Input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: ReadSize, minimumReadSize: ReadSize / 4, leaveOpen: true, useZeroByteReads: true));
        Output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: BufferSize, leaveOpen: true));
        RemoteEndPoint = Plain(socket.RemoteEndPoint);
        LocalEndPoint = Plain(socket.LocalEndPoint);
    }

    public override PipeReader Input { get; }

    public override PipeWriter Output { get; }

    public override EndPoint? RemoteEndPoint { get; }

    public override EndPoint? LocalEndPoint { get; }

    public override LinkCounters Counters => _counters;

    public override CancellationToken Closed => _closed.Token;

    public override LinkPath Path => DirectPath;

    /// <summary>Gathered sends and direct receives: both are this connection's own socket calls.</summary>
    public override TFeature? GetFeature<TFeature>()
        where TFeature : class => this as TFeature;

    /// <summary>
    /// Linux's <c>tcpi_bytes_acked</c> (RFC 4898's HCThruOctetsAcked), from <c>TCP_INFO</c>: a
    /// 64-bit count at byte 120 of <c>struct tcp_info</c> since Linux 4.2. Null elsewhere, or when
    /// the kernel's answer is shorter.
    /// </summary>
    public long? BytesAcknowledged
    {
        get
        {
            if (!OperatingSystem.IsLinux())
            {
                return null;
            }

            Span<byte> info = stackalloc byte[TcpInfoSize];
            try
            {
                int length = _socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
                return length >= BytesAckedOffset + sizeof(ulong) ? (long)System.Runtime.InteropServices.MemoryMarshal.Read<ulong>(info[BytesAckedOffset..]) : null;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return null;
            }
        }
    }

    private const int IpProtoTcp = 6;
    private const int TcpInfo = 11;
    private const int TcpInfoSize = 256;
    private const int BytesAckedOffset = 120;

    /// <summary>An IPv4 peer of a dual-mode socket as the IPv4 address it is (127.0.0.1, not ::ffff:127.0.0.1).</summary>
    private static EndPoint? Plain(EndPoint? endPoint) =>
        endPoint is IPEndPoint { Address.IsIPv4MappedToIPv6: true } mapped ? new IPEndPoint(mapped.Address.MapToIPv4(), mapped.Port) : endPoint;

    /// <summary>Connects to <paramref name="address"/>; failures become <see cref="OmniStoreError.Unavailable"/>.</summary>
    public static async Task<TcpConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(address.Host, address.Port, cancellationToken).ConfigureAwait(false);
            return new TcpConnection(socket, counters);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot connect to {address}: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>One <c>sendmsg</c> over the buffers (arrays only: the socket pins them for the call).</summary>
    public async ValueTask<bool> TrySendAsync(IReadOnlyList<ReadOnlyMemory<byte>> buffers)
    {
        var segments = new ArraySegment<byte>[buffers.Count];
        int total = 0;
        for (int i = 0; i < segments.Length; i++)
        {
            if (!MemoryMarshal.TryGetArray(buffers[i], out segments[i]))
            {
                return false;
            }

            total += segments[i].Count;
        }

        // Counted before the bytes go: a peer that has them and reports back never finds the count behind.
        _counters.AddWireOut(total);
        try
        {
            // A stream socket's send completes only once every byte of the list is out.
            await _socket.SendAsync(segments, SocketFlags.None).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new IOException($"Sending failed: {ex.Message}", ex);
        }

        return true;
    }

    /// <summary>Receives straight from the socket into <paramref name="destination"/>, counting the bytes as wire bytes in.</summary>
    public async ValueTask ReceiveExactlyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            int read;
            try
            {
                read = await _socket.ReceiveAsync(destination, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                MarkClosed();
                throw new IOException($"Receiving failed: {ex.Message}", ex);
            }

            if (read == 0)
            {
                MarkClosed();
                throw new EndOfStreamException("The peer closed the connection.");
            }

            _counters.AddWireIn(read);
            destination = destination[read..];
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        MarkClosed();

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        await Input.CompleteAsync().ConfigureAwait(false);
        await CompleteOutputAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _closed.Dispose();
    }

    public override async ValueTask CloseOutputAsync()
    {
        await CompleteOutputAsync().ConfigureAwait(false);
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed: the peer sees the end anyway.
        }
    }

    /// <summary>
    /// Completes the output pipe, which writes out what a send left in it (written, not yet flushed,
    /// when the send failed or was cancelled). Once the peer is gone or the socket is shut, those
    /// bytes reach nobody, and the write's error is no reason for a close to throw: a client closing
    /// its connection to a relay killed under it got an <see cref="IOException"/> out of its dispose.
    /// </summary>
    private async ValueTask CompleteOutputAsync()
    {
        try
        {
            await Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            MarkClosed();
        }
    }

    /// <summary>The peer closed, the connection failed, or this end disposed it.</summary>
    private void MarkClosed()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Counts bytes as they pass; everything else is the inner stream's.</summary>
    private sealed class CountingStream(Stream inner, LinkCounters counters, TcpConnection owner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0 && !buffer.IsEmpty)
                {
                    owner.MarkClosed();
                }

                return Counted(read);
            }
            catch (IOException)
            {
                owner.MarkClosed();
                throw;
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            counters.AddWireOut(buffer.Length); // before the bytes go, as in TrySendAsync
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            counters.AddWireOut(count);
            inner.Write(buffer, offset, count);
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private int Counted(int read)
        {
            counters.AddWireIn(read);
            return read;
        }
    }
}
