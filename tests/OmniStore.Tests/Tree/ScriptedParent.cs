using OmniStore.Content;
using OmniStore.Protocol;
using OmniStore.Transport;
using OmniStore.Transport.Tcp;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A parent for one relay that answers GET_CHUNK as a test scripts it: whole, in part and then
/// paused, with bytes that do not match, with too many or too few bytes, with an error, or by
/// dropping the connection mid-chunk. It keeps accepting, so a relay that lost it reconnects.
/// </summary>
internal sealed class ScriptedParent : IRequestHandler, IAsyncDisposable
{
    private readonly TcpConnectionListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<PeerConnection> _connections = [];
    private Task _accepting = Task.CompletedTask;
    private int _chunkRequests;

    private ScriptedParent(TcpConnectionListener listener)
    {
        _listener = listener;
    }

    public NodeAddress Address => new("tcp", "127.0.0.1", _listener.Addresses[0].Port);

    /// <summary>How a GET_CHUNK is answered; by default with the chunk from <see cref="Chunks"/>, whole.</summary>
    public Func<ChunkAsk, Task>? OnChunk { get; set; }

    /// <summary>The chunks this parent has, by id.</summary>
    public Dictionary<ChunkId, byte[]> Chunks { get; } = [];

    /// <summary>GET_CHUNK requests received.</summary>
    public int ChunkRequests => Volatile.Read(ref _chunkRequests);

    public static ScriptedParent Start()
    {
        var parent = new ScriptedParent(TcpConnectionListener.Bind(new NodeAddress("tcp", "127.0.0.1", 0)));
        parent._accepting = Task.Run(parent.AcceptLoopAsync);
        return parent;
    }

    public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        using (request)
        {
            if (request.Type != FrameType.GetChunk)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"{request.Type} is not served here.");
            }

            var (id, length) = global::OmniStore.Node.Requests.ChunkRequests.Read(request.Payload);
            Interlocked.Increment(ref _chunkRequests);
            var ask = new ChunkAsk(connection, request.Stream, id, length, Chunks.GetValueOrDefault(id), cancellationToken);
            await (OnChunk ?? (a => a.RespondAsync(a.Data!)))(ask);
        }
    }

    /// <summary>Drops every connection to this parent (the relay reconnects: the listener stays).</summary>
    public async Task DropConnectionsAsync()
    {
        List<PeerConnection> connections;
        lock (_connections)
        {
            connections = [.. _connections];
            _connections.Clear();
        }

        foreach (var connection in connections)
        {
            connection.DisposeTimeout = TimeSpan.Zero;
            await connection.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _listener.DisposeAsync();
        await _accepting;
        await DropConnectionsAsync();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var accepted = await _listener.AcceptAsync(_stop.Token);
            if (accepted.Status == AcceptStatus.Stopped)
            {
                return;
            }

            var counters = new LinkCounters();
            if (accepted.Connection?.Open(counters) is not { } next)
            {
                continue;
            }

            try
            {
                var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Root, "scripted", null) { AcceptsRelaysWithoutSecret = true };
                var connection = await PeerConnection.StartAsync(next, next, false, identity, this, counters, null, _stop.Token);
                lock (_connections)
                {
                    _connections.Add(connection);
                }
            }
            catch (Exception e) when (e is OmniStoreException or OperationCanceledException)
            {
            }
        }
    }

    /// <summary>One GET_CHUNK to answer: its stream, the chunk asked for and, if this parent has it, its bytes.</summary>
    internal sealed record ChunkAsk(PeerConnection Connection, uint Stream, ChunkId Id, int Length, byte[]? Data, CancellationToken CancellationToken)
    {
        /// <summary>Answers with a CHUNK whose header names the chunk asked for and its length, carrying <paramref name="bytes"/> (which may be wrong).</summary>
        public async Task RespondAsync(byte[] bytes) =>
            await Connection.RespondAsync(Stream, FrameType.Chunk, ChunkMessage.Head(Id, Length), bytes);

        /// <summary>Answers with the chunk's header and then <paramref name="body"/>'s bytes as it lets them go.</summary>
        public Task RespondAsync(IArrivingBody body) =>
            Connection.RespondArrivingAsync(Stream, FrameType.Chunk, ChunkMessage.Head(Id, Length), body, CancellationToken);
    }
}
