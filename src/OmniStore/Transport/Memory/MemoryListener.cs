using System.Buffers;
using System.Net;
using System.Threading.Channels;

namespace OmniStore.Transport.Memory;

/// <summary>A name in this process that <see cref="MemoryTransport"/> connections reach; a bounded queue of them, like a backlog.</summary>
internal sealed class MemoryListener(NodeAddress address, Action unregister) : IConnectionListener
{
    private const int Backlog = 512;

    private readonly Channel<MemoryConnection> _backlog = Channel.CreateBounded<MemoryConnection>(new BoundedChannelOptions(Backlog) { SingleReader = true });

    public IReadOnlyList<NodeAddress> Addresses { get; } = [address];

    /// <summary>Creates a connected pair and queues the listener's end; false when the backlog is full or the listener gone.</summary>
    public bool TryEnqueue(LinkCounters dialerCounters, out MemoryConnection dialerEnd)
    {
        var (dialer, acceptor) = MemoryConnection.CreatePair(dialerCounters, Addresses[0]);
        if (_backlog.Writer.TryWrite(acceptor))
        {
            dialerEnd = dialer;
            return true;
        }

        dialer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        dialerEnd = null!;
        return false;
    }

    public async Task<AcceptResult> AcceptAsync(CancellationToken cancellationToken)
    {
        try
        {
            var connection = await _backlog.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return new AcceptResult(AcceptStatus.Accepted, new Incoming(connection), null);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            return AcceptResult.Stopped;
        }
    }

    public async ValueTask DisposeAsync()
    {
        unregister();
        if (_backlog.Writer.TryComplete())
        {
            while (_backlog.Reader.TryRead(out var waiting))
            {
                await waiting.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The listener's end of a connection, before the node admits it.</summary>
    private sealed class Incoming(MemoryConnection connection) : IncomingConnection
    {
        public override IPEndPoint? RemoteEndPoint => null;

        public override TransportConnection? Open(LinkCounters counters)
        {
            connection.CountIn(counters);
            return connection;
        }

        public override void Refuse(ReadOnlySpan<byte> farewell)
        {
            connection.Output.Write(farewell);
            _ = connection.Output.FlushAsync().AsTask().ContinueWith(_ => connection.DisposeAsync().AsTask(), TaskScheduler.Default);
        }
    }
}
