using System.Buffers;
using System.IO.Pipelines;
using System.Net;

namespace OmniStore.Transport.Memory;

/// <summary>
/// One end of an in-process connection: two pipes, crossed. What one end writes and flushes the
/// other reads. Each direction holds at most <see cref="WindowBytes"/> unread, so a writer waits for
/// its reader as it would on a socket. Bytes are counted as they are read and as they are flushed.
/// </summary>
internal sealed class MemoryConnection : TransportConnection
{
    /// <summary>Unread bytes one direction holds before its writer waits (a socket buffer's worth).</summary>
    public const int WindowBytes = 1 << 20;

    private static readonly LinkPath MemoryPath = new("mem", PathType.Direct);

    private readonly CancellationTokenSource _closed;
    private LinkCounters _counters;
    private readonly CountingReader _input;
    private readonly CountingWriter _output;
    private int _disposed;

    private MemoryConnection(Pipe receive, Pipe send, LinkCounters counters, CancellationTokenSource closed, EndPoint local, EndPoint remote)
    {
        _counters = counters;
        _closed = closed;
        _input = new CountingReader(receive.Reader, this);
        _output = new CountingWriter(send.Writer, this);
        LocalEndPoint = local;
        RemoteEndPoint = remote;
    }

    public override PipeReader Input => _input;

    public override PipeWriter Output => _output;

    public override EndPoint? LocalEndPoint { get; }

    public override EndPoint? RemoteEndPoint { get; }

    public override LinkCounters Counters => _counters;

    // Both ends share one token: either end closing closes the connection.
    public override CancellationToken Closed => _closed.Token;

    public override LinkPath Path => MemoryPath;

    internal static (MemoryConnection Dialer, MemoryConnection Acceptor) CreatePair(LinkCounters dialerCounters, NodeAddress listener)
    {
        var options = new PipeOptions(pauseWriterThreshold: WindowBytes, resumeWriterThreshold: WindowBytes / 2, useSynchronizationContext: false);
        var toAcceptor = new Pipe(options);
        var toDialer = new Pipe(options);
        var closed = new CancellationTokenSource();
        var acceptorEnd = new DnsEndPoint(listener.Host, 0);
        var dialerEnd = new DnsEndPoint($"{listener.Host}-client", 0);
        var dialer = new MemoryConnection(toDialer, toAcceptor, dialerCounters, closed, dialerEnd, acceptorEnd);
        var acceptor = new MemoryConnection(toAcceptor, toDialer, new LinkCounters(), closed, acceptorEnd, dialerEnd);
        return (dialer, acceptor);
    }

    /// <summary>Counts in <paramref name="counters"/> from now on (the listener's end, when the node opens it).</summary>
    internal void CountIn(LinkCounters counters) => _counters = counters;

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        // The peer reads what was flushed, then the end of the stream; its writes fail from now on.
        await _output.Inner.CompleteAsync().ConfigureAwait(false);
        await _input.Inner.CompleteAsync().ConfigureAwait(false);
    }

    private sealed class CountingReader(PipeReader inner, MemoryConnection owner) : PipeReader
    {
        private ReadOnlySequence<byte> _last;
        private long _carried;

        public PipeReader Inner => inner;

        public override void AdvanceTo(SequencePosition consumed)
        {
            _carried = _last.Slice(consumed).Length;
            inner.AdvanceTo(consumed);
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            _carried = _last.Slice(consumed).Length;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(cancellationToken).ConfigureAwait(false));

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result))
            {
                return false;
            }

            result = Count(result);
            return true;
        }

        // A read returns what was left unconsumed last time, then what is new: the new is counted.
        private ReadResult Count(ReadResult result)
        {
            _last = result.Buffer;
            owner.Counters.AddWireIn(result.Buffer.Length - _carried);
            return result;
        }
    }

    private sealed class CountingWriter(PipeWriter inner, MemoryConnection owner) : PipeWriter
    {
        public PipeWriter Inner => inner;

        public override void Advance(int bytes)
        {
            inner.Advance(bytes);
            owner.Counters.AddWireOut(bytes);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
    }
}
