using OmniStore.Transport;

namespace OmniStore.Tests.Infrastructure;

/// <summary>
/// Raw bytes to and from a node over any registered transport, as a stream: what a hand-written
/// peer sends (malformed frames, a handshake by hand), without the protocol in between.
/// </summary>
internal sealed class TransportStream : Stream
{
    private readonly TransportConnection _connection;
    private readonly Stream _input;
    private readonly Stream _output;

    private TransportStream(TransportConnection connection)
    {
        _connection = connection;
        _input = connection.Input.AsStream(leaveOpen: true);
        _output = connection.Output.AsStream(leaveOpen: true);
    }

    public static async Task<TransportStream> ConnectAsync(NodeAddress address, CancellationToken ct) =>
        new(await TransportRegistry.Default.ConnectAsync(address, new LinkCounters(), ct));

    /// <summary>Sends end-of-stream (TCP: shutdown of the sending side); reading goes on.</summary>
    public ValueTask ShutdownSendAsync() => _connection.CloseOutputAsync();

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => _input.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _input.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _input.ReadAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    // Every write goes out at once, as a socket's would.
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _output.WriteAsync(buffer, cancellationToken);
        await _output.FlushAsync(cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }
}
