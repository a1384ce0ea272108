using System.Buffers;
using Microsoft.Extensions.Logging;
using OmniStore.Content;
using OmniStore.Internal;
using OmniStore.Node.Internal;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Node;

/// <summary>
/// A client of a relay or root over the protocol. Chunks move with a window of requests in flight
/// so one Get or Put runs at link speed; every chunk is verified on arrival. When the node it talks
/// to becomes unavailable, it moves to the next address in its list and carries on from the chunk
/// it was at.
/// </summary>
internal sealed class RemoteObjectService : IObjectService
{
    private readonly IReadOnlyList<NodeAddress> _addresses;

    // Per address: the identity this client dials it with, expecting the node id the address names, if any.
    private readonly ConnectionIdentity[] _identities;
    private readonly ConnectionIdentity _identity;
    private readonly int _window;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectLock = new(1, 1);

    // Ends the return to a preferred address (FailbackLoopAsync) when the client is disposed.
    private readonly CancellationTokenSource _stopping = new();
    private Task? _failback;

    // Small objects read again skip GET_MANIFEST (docs/performance.md, "Small objects against Redis").
    private readonly ManifestCache _manifests = new(ManifestCacheCapacity, ManifestCacheMaxChunks);
    private PeerConnection? _connection;
    private int _index;
    private int _disposed;
    private TransportRegistry _transports = TransportRegistry.Default;
    private Nat.NatTraversal? _nat;
    private Security.TlsCredentials? _tls;
    private ClientRevocations? _revocations;

    private RemoteObjectService(IReadOnlyList<NodeAddress> addresses, IReadOnlyList<NodeId?> expected, ConnectionIdentity identity, int window, ILogger logger)
    {
        _addresses = addresses;
        _identity = identity;
        _identities = [.. expected.Select(id => id is null ? identity : identity with { ExpectedPeer = id })];
        _window = window;
        _logger = logger;
    }

    /// <summary>Manifests the client keeps of the small objects it read (a few hundred bytes each at most).</summary>
    internal const int ManifestCacheCapacity = 4096;

    /// <summary>The most chunks of a manifest the client keeps: beyond that, its request is a small part of a Get.</summary>
    internal const int ManifestCacheMaxChunks = 16;

    public LinkCounters Counters { get; } = new();

    /// <summary>The manifests of small objects this client read, so that reading one again costs no GET_MANIFEST.</summary>
    internal ManifestCache Manifests => _manifests;

    /// <summary>The address of the node currently in use.</summary>
    public NodeAddress CurrentAddress => _addresses[Volatile.Read(ref _index)];

    /// <summary>How many times the client moved to another address after a failure.</summary>
    public int Failovers { get; private set; }

    /// <summary>
    /// The client moved to another address: after a failure (the flag false), or back to an earlier
    /// address that answered again (true). Raised after the move, outside the client's locks; a
    /// handler that throws is logged and does not fail the request that moved.
    /// </summary>
    public event Action<EndpointChangedEventArgs, bool>? Moved;

    /// <summary>
    /// Connects to the first of <paramref name="addresses"/> that answers; <paramref name="expected"/>
    /// gives, per address, the node id the node there must prove (null: any). With
    /// <paramref name="tls"/> (for <c>tls+</c> addresses), the certificate's key is the client's node key.
    /// </summary>
    public static async Task<RemoteObjectService> ConnectAsync(IReadOnlyList<NodeAddress> addresses, IReadOnlyList<NodeId?> expected, byte[]? secret, TlsOptions? tls, int window, ILogger logger, CancellationToken cancellationToken, NodeAddress? rendezvous = null, TimeSpan? failbackInterval = null)
    {
        var service = Create(addresses, expected, secret, tls, window, logger, rendezvous, failbackInterval);
        try
        {
            await service.ReconnectAsync(failed: null, why: null, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await service.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return service;
    }

    /// <summary>
    /// As <see cref="ConnectAsync"/>, but connecting on the first request instead of now: nothing
    /// here waits on the network (the TLS files, if any, are read).
    /// </summary>
    public static RemoteObjectService Create(IReadOnlyList<NodeAddress> addresses, IReadOnlyList<NodeId?> expected, byte[]? secret, TlsOptions? tls, int window, ILogger logger, NodeAddress? rendezvous = null, TimeSpan? failbackInterval = null)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(expected.Count, addresses.Count, nameof(expected));
        var credentials = tls?.Load();
        var identity = credentials is null
            ? ConnectionIdentity.NewClient(secret)
            : new ConnectionIdentity(NodeIdentity.FromCertificate(credentials.Certificate), NodeRole.Client, string.Empty, secret);
        var service = new RemoteObjectService(addresses, expected, identity, window, logger)
        {
            _transports = credentials is null ? TransportRegistry.Default : TransportRegistry.Default.WithTls(credentials),
            _tls = credentials,
            _revocations = credentials is null ? null : new ClientRevocations(credentials),
        };
        if (credentials is not null)
        {
            credentials.RevocationsChanged += service.DropRevoked;
        }

        if (rendezvous is not null)
        {
            // rudp://NAME reaches a node behind NAT through the rendezvous (docs/nat.md).
            service._nat = new Nat.NatTraversal(new Nat.NatOptions { Rendezvous = rendezvous, Tls = credentials }, endpoint: null, identity, logger);
            service._transports = service._transports.With(new Nat.NatTransport(service._transports.Get("rudp"), service._nat));
        }

        if (addresses.Count > 1 && (failbackInterval ?? OmniStoreOptions.DefaultFailbackInterval) is var interval && interval != Timeout.InfiniteTimeSpan)
        {
            // Not in the caller's execution context: the loop outlives whatever operation (and span) made the client.
            using (ExecutionContext.SuppressFlow())
            {
                service._failback = Task.Run(() => service.FailbackLoopAsync(interval, service._stopping.Token), CancellationToken.None);
            }
        }

        return service;
    }

    private async Task<PeerConnection> ConnectionAsync(CancellationToken cancellationToken) => _connection switch
    {
        { IsOpen: true, GoingAway: false } open => open,
        { IsOpen: true } goingAway => await ReconnectAsync(goingAway, "the node is going away", cancellationToken).ConfigureAwait(false),
        var closed => await ReconnectAsync(closed, "the connection is closed", cancellationToken).ConfigureAwait(false),
    };

    /// <summary>
    /// Replaces <paramref name="failed"/> with a connection to the next reachable address, trying
    /// each once, starting with the current one when there is no failed connection yet. An address
    /// whose handshake fails with a protocol error (something else answers there, such as a node's
    /// HTTP status port) is passed over like one that does not answer.
    /// </summary>
    private async Task<PeerConnection> ReconnectAsync(PeerConnection? failed, string? why, CancellationToken cancellationToken)
    {
        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        EndpointChangedEventArgs? moved = null;
        try
        {
            if (_connection is { IsOpen: true, GoingAway: false } current && current != failed)
            {
                return current; // another request already moved on
            }

            // Every request in flight on a lost connection comes here; the first one through finds
            // it still current, so the loss is logged once.
            if (failed is not null && failed == _connection)
            {
                ClientLog.ConnectionFailed(_logger, _addresses[_index].ToString(), why ?? "unknown");
            }

            OmniStoreException? last = null;
            var reasons = new List<string>(_addresses.Count);
            int start = failed is null && _connection is null ? 0 : _index + 1;
            for (int attempt = 0; attempt < _addresses.Count; attempt++)
            {
                int index = (start + attempt) % _addresses.Count;
                try
                {
                    var transport = await _transports.ConnectAsync(_addresses[index], Counters, cancellationToken).ConfigureAwait(false);
                    var connection = await PeerConnection.StartAsync(transport, isOpener: true, _identities[index], _revocations, ConnectionLimits.Default, logger: null, cancellationToken).ConfigureAwait(false);
                    if (_connection is { } previous && index != _index)
                    {
                        Failovers++;
                        ClientLog.MovedTo(_logger, _addresses[_index].ToString(), _addresses[index].ToString(), connection.Describe(), Failovers);
                        Diagnostics.Telemetry.Failovers.Add(1, new KeyValuePair<string, object?>("server.address", _addresses[index].ToString()));
                        moved = new EndpointChangedEventArgs(_addresses[_index].ToString(), _addresses[index].ToString(), why ?? "unknown");
                        _ = RetireAsync(previous);
                    }
                    else
                    {
                        ClientLog.Connected(_logger, _addresses[index].ToString(), connection.Describe());
                        if (_connection is { } replaced)
                        {
                            _ = RetireAsync(replaced);
                        }
                    }

                    _connection = connection;
                    Volatile.Write(ref _index, index);
                    return connection;
                }
                catch (OmniStoreException ex) when (ex.Error is OmniStoreError.Unavailable or OmniStoreError.ProtocolError)
                {
                    last = ex;
                    string reason = Reason(_addresses[index], ex);
                    reasons.Add(reason);
                    if (attempt + 1 < _addresses.Count)
                    {
                        ClientLog.AddressFailed(_logger, _addresses[index].ToString(), ex.Message.TrimEnd('.'), _addresses[(index + 1) % _addresses.Count].ToString());
                    }
                    else
                    {
                        ClientLog.LastAddressFailed(_logger, _addresses[index].ToString(), ex.Message.TrimEnd('.'));
                    }
                }
            }

            throw new OmniStoreException(OmniStoreError.Unavailable, $"No node is reachable: {string.Join("; ", reasons)}.", last);
        }
        finally
        {
            _connectLock.Release();
            if (moved is not null)
            {
                RaiseMoved(moved, restored: false);
            }
        }
    }

    /// <summary>
    /// While the client is not on its first address, tries every <paramref name="interval"/> the
    /// addresses before the one in use, in order, and moves to the first that answers: a client that
    /// failed over to the root goes back to its site's relay once the relay is up again.
    /// </summary>
    private async Task FailbackLoopAsync(TimeSpan interval, CancellationToken stopping)
    {
        try
        {
            using var timer = new PeriodicTimer(interval);
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                int current = Volatile.Read(ref _index);
                for (int index = 0; index < current; index++)
                {
                    if (await TryRestoreAsync(index, stopping).ConfigureAwait(false))
                    {
                        break;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>One handshake with the earlier address <paramref name="index"/>; if it answers, the client moves there.</summary>
    private async Task<bool> TryRestoreAsync(int index, CancellationToken stopping)
    {
        PeerConnection connection;
        using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(stopping))
        {
            attempt.CancelAfter(FailbackAttemptTimeout);
            try
            {
                var transport = await _transports.ConnectAsync(_addresses[index], Counters, attempt.Token).ConfigureAwait(false);
                connection = await PeerConnection.StartAsync(transport, isOpener: true, _identities[index], _revocations, ConnectionLimits.Default, logger: null, attempt.Token).ConfigureAwait(false);
            }
            catch (Exception) when (!stopping.IsCancellationRequested)
            {
                return false; // still down: tried again next interval
            }
        }

        EndpointChangedEventArgs? moved = null;
        await _connectLock.WaitAsync(stopping).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _disposed) == 0 && index < _index)
            {
                moved = new EndpointChangedEventArgs(_addresses[_index].ToString(), _addresses[index].ToString(), reason: null);
                ClientLog.Restored(_logger, moved.Previous, moved.Current, connection.Describe());
                Diagnostics.Telemetry.Restores.Add(1, new KeyValuePair<string, object?>("server.address", moved.Current));
                if (_connection is { } previous)
                {
                    _ = RetireAsync(previous);
                }

                _connection = connection;
                Volatile.Write(ref _index, index);
            }
        }
        finally
        {
            _connectLock.Release();
        }

        if (moved is null)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            return false;
        }

        RaiseMoved(moved, restored: true);
        return true;
    }

    /// <summary>How long one try of an earlier address may take.</summary>
    private static readonly TimeSpan FailbackAttemptTimeout = TimeSpan.FromSeconds(10);

    private void RaiseMoved(EndpointChangedEventArgs moved, bool restored)
    {
        try
        {
            Moved?.Invoke(moved, restored);
        }
        catch (Exception ex)
        {
            ClientLog.EventHandlerFailed(_logger, ex, restored ? "Restored" : "Failover");
        }
    }

    /// <summary>Why <paramref name="address"/> failed, naming it (the connector's messages already do).</summary>
    private static string Reason(NodeAddress address, OmniStoreException ex)
    {
        string text = address.ToString();
        string message = ex.Message.TrimEnd('.');
        return message.Contains(text, StringComparison.Ordinal)
            ? message
            : $"{text}: {(message.Length > 0 ? char.ToLowerInvariant(message[0]) + message[1..] : message)}";
    }

    /// <summary>
    /// Closes a replaced connection once the requests still in flight on it are answered (a node
    /// that said GOAWAY finishes them), or after 30 s.
    /// </summary>
    private static async Task RetireAsync(PeerConnection connection)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (connection.IsOpen && connection.PendingRequests > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        await connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Runs one request, moving to the next address and retrying when the node is unavailable.</summary>
    private async Task<T> WithFailoverAsync<T>(Func<PeerConnection, Task<T>> step, CancellationToken cancellationToken)
    {
        int attemptsLeft = _addresses.Count + 1;
        while (true)
        {
            var connection = await ConnectionAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return await step(connection).ConfigureAwait(false);
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Unavailable && --attemptsLeft > 0)
            {
                await ReconnectAsync(connection, ex.Message.TrimEnd('.'), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private Task<Message> RequestAsync(FrameType type, ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        WithFailoverAsync(c => c.RequestAsync(type, head, body, cancellationToken), cancellationToken);

    // ---- reads ----

    /// <summary>
    /// A name's binding and manifest and, when the node sent them along, the bytes of the object's
    /// only chunk (verified against the manifest), held in <see cref="Answer"/> until disposed.
    /// </summary>
    private readonly record struct Resolved(BindingMessage Binding, Manifest Manifest, Message? Answer, Range Chunk) : IDisposable
    {
        public ReadOnlyMemory<byte> Data => Answer is { } answer ? answer.PayloadMemory[Chunk] : default;

        public void Dispose() => Answer?.Dispose();
    }

    private async Task<(BindingMessage Binding, Manifest Manifest)> ResolveAsync(string name, CancellationToken cancellationToken)
    {
        using var resolved = await ResolveAsync(name, inline: 0, cancellationToken).ConfigureAwait(false);
        return (resolved.Binding, resolved.Manifest);
    }

    /// <summary>
    /// Resolves <paramref name="name"/>: with a node of protocol version 3 in one GET_OBJECT, which
    /// brings the bytes of a one-chunk object of at most <paramref name="inline"/> bytes along;
    /// with an older one as RESOLVE, then GET_MANIFEST unless the manifest is known.
    /// </summary>
    private Task<Resolved> ResolveAsync(string name, int inline, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        return WithFailoverAsync(
            connection => connection.Version >= ProtocolLimits.ObjectVersion
                ? GetObjectAsync(connection, name, inline, cancellationToken)
                : ResolveSeparatelyAsync(connection, name, cancellationToken),
            cancellationToken);
    }

    private async Task<Resolved> GetObjectAsync(PeerConnection connection, string name, int inline, CancellationToken cancellationToken)
    {
        var answer = await connection.RequestAsync(FrameType.GetObject, ObjectMessages.EncodeRequest(name, inline), cancellationToken).ConfigureAwait(false);
        try
        {
            var (binding, manifest, chunk) = ObjectMessages.ReadAnswer(answer.Payload);
            if (manifest is null)
            {
                manifest = await ManifestAsync(connection, binding.ManifestId, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                _manifests.Add(manifest);
            }

            if (chunk.End.Value > chunk.Start.Value)
            {
                return new Resolved(binding, manifest, answer, chunk);
            }

            answer.Dispose();
            return new Resolved(binding, manifest, null, default);
        }
        catch
        {
            answer.Dispose();
            throw;
        }
    }

    private async Task<Resolved> ResolveSeparatelyAsync(PeerConnection connection, string name, CancellationToken cancellationToken)
    {
        BindingMessage binding;
        using (var response = await connection.RequestAsync(FrameType.Resolve, Names.Encode(name), cancellationToken).ConfigureAwait(false))
        {
            binding = BindingMessage.Decode(response.Payload);
        }

        return new Resolved(binding, await ManifestAsync(connection, binding.ManifestId, cancellationToken).ConfigureAwait(false), null, default);
    }

    /// <summary>The manifest <paramref name="id"/>: one read before (content addressed, so still the same), or asked for.</summary>
    private async Task<Manifest> ManifestAsync(PeerConnection connection, ManifestId id, CancellationToken cancellationToken)
    {
        if (_manifests.TryGet(id, out var known))
        {
            return known;
        }

        var request = new byte[ManifestId.Size];
        id.Write(request);
        using var answer = await connection.RequestAsync(FrameType.GetManifest, request, cancellationToken).ConfigureAwait(false);
        var manifest = Manifest.Parse(answer.Payload, id);
        _manifests.Add(manifest);
        return manifest;
    }

    /// <summary>Fetches the chunks of <paramref name="manifest"/> in order, keeping a window of requests in flight.</summary>
    private async Task FetchChunksAsync(Manifest manifest, Func<int, ReadOnlyMemory<byte>, ValueTask> sink, CancellationToken cancellationToken)
    {
        var layout = manifest.Layout;
        var inFlight = new Queue<Task<Message>>();
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            for (int next = 0, written = 0; written < layout.ChunkCount;)
            {
                while (next < layout.ChunkCount && inFlight.Count < _window)
                {
                    var request = ChunkRequests.Encode(manifest.Chunks[next], layout.LengthOf(next));
                    inFlight.Enqueue(RequestAsync(FrameType.GetChunk, request, default, abandon.Token));
                    next++;
                }

                using var message = await inFlight.Dequeue().ConfigureAwait(false);
                var (id, data) = ChunkMessage.Read(message);
                if (id != manifest.Chunks[written] || data.Length != layout.LengthOf(written))
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, $"Asked for chunk {written} ({manifest.Chunks[written]}), received {id}.");
                }

                await sink(written, data).ConfigureAwait(false);
                written++;
            }
        }
        finally
        {
            await abandon.CancelAsync().ConfigureAwait(false);
            while (inFlight.TryDequeue(out var pending))
            {
                try
                {
                    (await pending.ConfigureAwait(false)).Dispose();
                }
                catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
                {
                }
            }
        }
    }

    public async ValueTask<long> GetAsync(string name, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var resolved = await ResolveAsync(name, ObjectMessages.MaxInlineChunk, cancellationToken).ConfigureAwait(false);
        if (resolved.Answer is not null)
        {
            await destination.WriteAsync(resolved.Data, cancellationToken).ConfigureAwait(false);
            return resolved.Manifest.Length;
        }

        await FetchChunksAsync(resolved.Manifest, (_, data) => destination.WriteAsync(data, cancellationToken), cancellationToken).ConfigureAwait(false);
        return resolved.Manifest.Length;
    }

    public async ValueTask<byte[]> GetAsync(string name, CancellationToken cancellationToken)
    {
        using var resolved = await ResolveAsync(name, ObjectMessages.MaxInlineChunk, cancellationToken).ConfigureAwait(false);
        var manifest = resolved.Manifest;
        if (resolved.Answer is not null)
        {
            return resolved.Data.ToArray();
        }

        if (manifest.Length > Array.MaxLength)
        {
            throw new OmniStoreException(OmniStoreError.TooSmall, $"'{name}' has {manifest.Length} bytes, more than one array holds; use the Stream overload.");
        }

        var result = GC.AllocateUninitializedArray<byte>((int)manifest.Length);
        await FetchChunksAsync(
            manifest,
            (index, data) =>
            {
                data.Span.CopyTo(result.AsSpan((int)manifest.Layout.OffsetOf(index)));
                return ValueTask.CompletedTask;
            },
            cancellationToken).ConfigureAwait(false);
        return result;
    }

    public unsafe int Get(string name, Span<byte> destination)
    {
        using var resolved = ResolveAsync(name, Math.Min(destination.Length, ObjectMessages.MaxInlineChunk), CancellationToken.None).GetAwaiter().GetResult();
        var manifest = resolved.Manifest;
        if (manifest.Length > destination.Length)
        {
            throw ThrowHelper.TooSmall(manifest.Length, destination.Length);
        }

        if (resolved.Answer is not null)
        {
            resolved.Data.Span.CopyTo(destination);
            return (int)manifest.Length;
        }

        fixed (byte* start = destination)
        {
            using var target = new PointerMemoryManager(start, (int)manifest.Length);
            var memory = target.Memory;
            FetchChunksAsync(
                manifest,
                (index, data) =>
                {
                    data.Span.CopyTo(memory.Span[(int)manifest.Layout.OffsetOf(index)..]);
                    return ValueTask.CompletedTask;
                },
                CancellationToken.None).GetAwaiter().GetResult();
        }

        return (int)manifest.Length;
    }

    /// <summary>
    /// Asks the node to verify its own store (VERIFY), reporting its progress as it comes. Not moved
    /// to another address when the node fails: the verification is of this node.
    /// </summary>
    public async Task<VerifyResult> VerifyAsync(bool repair, IProgress<VerifyProgress>? progress, CancellationToken cancellationToken)
    {
        var connection = await ConnectionAsync(cancellationToken).ConfigureAwait(false);
        var interim = new InterimAnswers(FrameType.VerifyProgress, payload =>
        {
            var now = VerifyMessages.DecodeProgress(payload.Span); // malformed: a protocol error, which closes the connection
            progress?.Report(now);
        });
        using var answer = await connection.RequestAsync(FrameType.Verify, VerifyMessages.EncodeRequest(repair), interim, cancellationToken).ConfigureAwait(false);
        if (answer.Type != FrameType.VerifyResult)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{connection.Describe()} answered VERIFY with {answer.Type}.");
        }

        return VerifyMessages.DecodeResult(answer.Payload);
    }

    /// <summary>
    /// The node's verified copy of a chunk, by its id (GET_CHUNK; checked against the id on arrival),
    /// or null when the node has none: what an embedded store repairs a damaged chunk from.
    /// </summary>
    public async Task<byte[]?> FetchCopyAsync(ChunkId id, int length, CancellationToken cancellationToken)
    {
        try
        {
            using var message = await RequestAsync(FrameType.GetChunk, ChunkRequests.Encode(id, length), default, cancellationToken).ConfigureAwait(false);
            var (received, data) = ChunkMessage.Read(message);
            return received == id && data.Length == length ? data.ToArray() : null;
        }
        catch (OmniStoreException ex) when (ex.Error is OmniStoreError.NotFound or OmniStoreError.Corrupt or OmniStoreError.InvalidArgument)
        {
            return null;
        }
    }

    public async ValueTask<OpenedObject> OpenAsync(string name, CancellationToken cancellationToken)
    {
        using var resolved = await ResolveAsync(name, ObjectMessages.MaxInlineChunk, cancellationToken).ConfigureAwait(false);
        var (binding, manifest) = (resolved.Binding, resolved.Manifest);
        var info = new ObjectInfo(name, manifest.Length, manifest.Layout.ChunkSize, manifest.Layout.ChunkCount, binding.Version, manifest.Id);
        return new OpenedObject(info, manifest, resolved.Answer is null ? default : resolved.Data.ToArray(), null);
    }

    /// <summary>
    /// One GET_CHUNK by the chunk's id: content addressed, so it reads the opened version even after
    /// the name moved on, for as long as a node on the way holds the chunk (the root holds what a
    /// binding reaches; a chunk of a version since replaced and reclaimed is <see cref="OmniStoreError.NotFound"/>).
    /// </summary>
    public async ValueTask ReadChunkAsync(OpenedObject opened, int index, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var manifest = opened.Manifest;
        int length = manifest.Layout.LengthOf(index);
        if (index == 0 && opened.Inline.Length == length)
        {
            opened.Inline.CopyTo(destination);
            return;
        }

        var id = manifest.Chunks[index];
        using var message = await RequestAsync(FrameType.GetChunk, ChunkRequests.Encode(id, length), default, cancellationToken).ConfigureAwait(false);
        var (received, data) = ChunkMessage.Read(message);
        if (received != id || data.Length != length)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"Asked for chunk {index} ({id}) of '{opened.Name}', received {received} ({data.Length} bytes).");
        }

        data.CopyTo(destination);
    }

    public async ValueTask<ObjectInfo?> StatAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var (binding, manifest) = await ResolveAsync(name, cancellationToken).ConfigureAwait(false);
            return ToInfo(binding, manifest);
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.NotFound)
        {
            return null;
        }
    }

    public async ValueTask<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        try
        {
            (await RequestAsync(FrameType.Delete, Names.Encode(name), default, cancellationToken).ConfigureAwait(false)).Dispose();
            return true;
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.NotFound)
        {
            return false;
        }
    }

    public Task<Listing> ListPageAsync(ListRequest asked, CancellationToken cancellationToken) =>
        WithFailoverAsync(async connection =>
        {
            RequireListing(connection, "Listing names");
            using var response = await connection.RequestAsync(FrameType.List, ListMessages.EncodeRequest(asked), cancellationToken).ConfigureAwait(false);
            return ListMessages.DecodeListing(response.Payload, asked);
        }, cancellationToken);

    /// <summary>
    /// WAIT: one request, answered by the node once the name is bound; sent again on the next
    /// connection when this one is lost (a wait is idempotent).
    /// </summary>
    public async ValueTask<ObjectInfo> WaitForAsync(string name, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        return await WithFailoverAsync(async connection =>
        {
            RequireListing(connection, "Waiting for a name");
            using var response = await connection.RequestAsync(FrameType.Wait, Names.Encode(name), cancellationToken).ConfigureAwait(false);
            var listing = ListMessages.DecodeListing(response.Payload, new ListRequest(name, string.Empty, 1, Cached: false));
            return listing is { Entries: [var entry], More: false } && entry.Name == name
                ? entry
                : throw HelloMessage.Malformed($"a WAIT answered with {listing.Entries.Count} entries, not the one name asked");
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One WATCH on the current connection (connecting first, on the next address if need be): its
    /// CHANGEs, checked as they arrive (a malformed one closes the connection), in order. Up to
    /// <see cref="ListMessages.MaxQueuedChanges"/> wait for the caller; one more cancels the WATCH and
    /// ends this with <see cref="OmniStoreError.Unavailable"/> once those are read, so the caller
    /// resumes from the last it saw: a slow caller costs bounded memory, never a lost change.
    /// </summary>
    public async IAsyncEnumerable<ChangeMessage> WatchAsync(WatchRequest asked, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var connection = await ConnectionAsync(cancellationToken).ConfigureAwait(false);
        RequireVersion(connection, ProtocolLimits.WatchVersion, "Watching names");
        var queue = System.Threading.Channels.Channel.CreateBounded<ChangeMessage>(new System.Threading.Channels.BoundedChannelOptions(ListMessages.MaxQueuedChanges) { SingleReader = true, SingleWriter = true });
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = new ListMessages.ChangeReader(asked);
        int behind = 0;
        var interim = new InterimAnswers(FrameType.Change, payload =>
        {
            var change = reader.Read(payload.Span); // malformed: a protocol error, which closes the connection
            if (!queue.Writer.TryWrite(change) && Interlocked.Exchange(ref behind, 1) == 0)
            {
                // Off the receive loop: cancelling sends CANCEL.
                ThreadPool.QueueUserWorkItem(static s => Cancel((CancellationTokenSource)s!), stop);
            }
        });
        var request = connection.RequestAsync(FrameType.Watch, ListMessages.EncodeWatch(asked), interim, stop.Token);
        _ = request.ContinueWith(
            task =>
            {
                Exception end = Volatile.Read(ref behind) != 0
                    ? new OmniStoreException(OmniStoreError.Unavailable, $"This client fell {ListMessages.MaxQueuedChanges} changes behind the watch; it resumes from the last one read.")
                    : task.Exception?.InnerException is { } failed
                        ? failed
                        : task.IsCanceled
                            ? new OperationCanceledException(cancellationToken)
                            : new OmniStoreException(OmniStoreError.ProtocolError, $"{connection.Describe()} answered a WATCH with {task.Result.Type}.");
                if (task.IsCompletedSuccessfully)
                {
                    task.Result.Dispose();
                }

                queue.Writer.TryComplete(end);
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        try
        {
            await foreach (var change in queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return change;
            }
        }
        finally
        {
            Cancel(stop);
            await request.ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            stop.Dispose();
        }
    }

    private static void Cancel(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The watch ended meanwhile.
        }
    }

    /// <summary>A node of an older version cannot list or wait: said plainly before anything is sent.</summary>
    private static void RequireListing(PeerConnection connection, string what) =>
        RequireVersion(connection, ProtocolLimits.ListingVersion, what);

    private static void RequireVersion(PeerConnection connection, ushort version, string what)
    {
        if (connection.Version < version)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{what} needs protocol version {version}; the node {connection.Describe()} speaks {connection.Version}.");
        }
    }

    /// <summary>Asks the node to fetch every chunk of <paramref name="name"/> into its cache.</summary>
    public async Task PrefetchAsync(string name, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        (await RequestAsync(FrameType.Prefetch, Names.Encode(name), default, cancellationToken).ConfigureAwait(false)).Dispose();
    }

    // ---- writes ----

    /// <summary>What a binding and its manifest say of an object.</summary>
    private static ObjectInfo ToInfo(BindingMessage binding, Manifest manifest) =>
        new(binding.Name, manifest.Length, manifest.Layout.ChunkSize, manifest.Layout.ChunkCount, binding.Version, manifest.Id) { Expires = binding.Expires };

    public async ValueTask<ObjectInfo> PutAsync(string name, Stream source, int chunkSize, PutOptions? options, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        ArgumentNullException.ThrowIfNull(source);
        var conditions = PutConditions.From(options);
        await RequireConditionsAsync(conditions, cancellationToken).ConfigureAwait(false);
        if (source.CanSeek && source.Length - source.Position is >= 0 and <= PutObjectMessage.MaxObject)
        {
            // A small file (its length known): read whole, it goes in one PUT_OBJECT.
            var whole = new byte[source.Length - source.Position];
            await source.ReadExactlyAsync(whole, cancellationToken).ConfigureAwait(false);
            return await PutAsync(name, whole, chunkSize, options, cancellationToken).ConfigureAwait(false);
        }

        var upload = new Upload(this, chunkSize, cancellationToken);
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
                int read = await source.ReadAtLeastAsync(buffer.AsMemory(0, chunkSize), chunkSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }

                await upload.AddAsync(buffer, read).ConfigureAwait(false);
                if (read < chunkSize)
                {
                    break;
                }
            }

            return await upload.CompleteAsync(name, options?.Broadcast == true, conditions).ConfigureAwait(false);
        }
        finally
        {
            await upload.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask<ObjectInfo> PutAsync(string name, ReadOnlyMemory<byte> data, int chunkSize, PutOptions? options, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        var conditions = PutConditions.From(options);
        await RequireConditionsAsync(conditions, cancellationToken).ConfigureAwait(false);
        bool broadcast = options?.Broadcast == true;
        if (data.Length <= PutObjectMessage.MaxObject && await PutObjectAsync(name, data, chunkSize, broadcast, conditions, cancellationToken).ConfigureAwait(false) is { } info)
        {
            return info;
        }

        var upload = new Upload(this, chunkSize, cancellationToken);
        try
        {
            for (int offset = 0; offset < data.Length; offset += chunkSize)
            {
                int length = Math.Min(chunkSize, data.Length - offset);
                var buffer = ArrayPool<byte>.Shared.Rent(length);
                data.Span.Slice(offset, length).CopyTo(buffer);
                await upload.AddAsync(buffer, length).ConfigureAwait(false);
            }

            return await upload.CompleteAsync(name, broadcast, conditions).ConfigureAwait(false);
        }
        finally
        {
            await upload.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A conditional or expiring Put is refused at once by a node of a version before 8, before any
    /// chunk is sent: it would refuse the request as malformed, or (older still) bind unconditionally.
    /// </summary>
    private async Task RequireConditionsAsync(PutConditions conditions, CancellationToken cancellationToken)
    {
        if (!conditions.IsEmpty)
        {
            var connection = await ConnectionAsync(cancellationToken).ConfigureAwait(false);
            conditions.RequireVersion(connection.Version, $"the node {connection.Describe()}");
        }
    }

    /// <summary>
    /// A small object in one PUT_OBJECT (protocol version 5): its manifest and bytes, answered once
    /// the root has it durable. Null when the node speaks an older version (the caller uploads it in
    /// pieces).
    /// </summary>
    private async Task<ObjectInfo?> PutObjectAsync(string name, ReadOnlyMemory<byte> data, int chunkSize, bool broadcast, PutConditions conditions, CancellationToken cancellationToken)
    {
        var layout = new ChunkLayout(data.Length, chunkSize);
        var chunks = new ChunkId[layout.ChunkCount];
        for (int i = 0; i < chunks.Length; i++)
        {
            chunks[i] = ChunkId.Compute(data.Span.Slice((int)layout.OffsetOf(i), layout.LengthOf(i)));
        }

        var manifest = new Manifest(layout, chunks);
        var head = PutObjectMessage.EncodeHead(name, manifest, broadcast, conditions);
        var binding = await WithFailoverAsync<BindingMessage?>(
            async connection =>
            {
                conditions.RequireVersion(connection.Version, $"the node {connection.Describe()}"); // a connection moved to another node
                if (connection.Version < ProtocolLimits.PutObjectVersion)
                {
                    return null;
                }

                using var response = await connection.RequestAsync(FrameType.PutObject, head, data, cancellationToken).ConfigureAwait(false);
                return BindingMessage.Decode(response.Payload);
            },
            cancellationToken).ConfigureAwait(false);
        return binding is { } bound ? ToInfo(bound, manifest) : null;
    }

    public unsafe ObjectInfo Put(string name, ReadOnlySpan<byte> data, int chunkSize, PutOptions? options)
    {
        fixed (byte* start = data)
        {
            using var source = new PointerMemoryManager(start, data.Length);
            return PutAsync(name, source.Memory, chunkSize, options, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>One Put in progress: chunk uploads in flight (at most the window), then manifest and binding.</summary>
    private sealed class Upload(RemoteObjectService owner, int chunkSize, CancellationToken cancellationToken) : IAsyncDisposable
    {
        private readonly List<ChunkId> _chunks = [];
        private readonly Queue<Task> _inFlight = new();
        private long _length;

        public async Task AddAsync(byte[] rented, int length)
        {
            if (_chunks.Count >= ChunkLayout.MaxChunkCount)
            {
                ArrayPool<byte>.Shared.Return(rented);
                throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The object exceeds {ChunkLayout.MaxLength(chunkSize)} bytes, the most a chunk size of {chunkSize} allows.");
            }

            var id = ChunkId.Compute(rented.AsSpan(0, length));
            _chunks.Add(id);
            _length += length;
            if (_inFlight.Count >= owner._window)
            {
                await _inFlight.Dequeue().ConfigureAwait(false);
            }

            _inFlight.Enqueue(SendAsync(id, rented, length));
        }

        private async Task SendAsync(ChunkId id, byte[] rented, int length)
        {
            try
            {
                (await owner.RequestAsync(FrameType.PutChunk, ChunkMessage.Head(id, length), rented.AsMemory(0, length), cancellationToken).ConfigureAwait(false)).Dispose();
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        public async Task<ObjectInfo> CompleteAsync(string name, bool broadcast, PutConditions conditions)
        {
            while (_inFlight.TryDequeue(out var pending))
            {
                await pending.ConfigureAwait(false);
            }

            var manifest = new Manifest(new ChunkLayout(_length, chunkSize), _chunks);
            (await owner.RequestAsync(FrameType.PutManifest, manifest.ToBytes(), default, cancellationToken).ConfigureAwait(false)).Dispose();
            var bind = new BindMessage(name, manifest.Id, broadcast, conditions).Encode();
            var binding = await owner.WithFailoverAsync(
                async connection =>
                {
                    conditions.RequireVersion(connection.Version, $"the node {connection.Describe()}"); // a connection moved to another node
                    using var response = await connection.RequestAsync(FrameType.Bind, bind, cancellationToken).ConfigureAwait(false);
                    return BindingMessage.Decode(response.Payload);
                },
                cancellationToken).ConfigureAwait(false);
            return ToInfo(binding, manifest);
        }

        public async ValueTask DisposeAsync()
        {
            while (_inFlight.TryDequeue(out var pending))
            {
                try
                {
                    await pending.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
                {
                }
            }
        }
    }

    /// <summary>A newer revocation list: the connection in use is closed if it lists the node's certificate.</summary>
    private void DropRevoked(Security.RevocationList list)
    {
        if (_connection is { PeerCertificateSerial: { } serial } connection && list.IsRevoked(serial))
        {
            ClientLog.ConnectionFailed(_logger, CurrentAddress.ToString(), $"the node's certificate '{connection.PeerCertificateName}' is revoked");
            _ = connection.DisposeAsync().AsTask();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            if (_failback is not null)
            {
                await _failback.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            _stopping.Dispose();
            if (_connection is not null)
            {
                await _connection.DisposeAsync().ConfigureAwait(false);
            }

            if (_nat is not null)
            {
                await _nat.DisposeAsync().ConfigureAwait(false);
            }

            _identity.Node.Dispose(); // the client's ephemeral key: no later handshake needs it
            _tls?.Dispose();
        }
    }
}
