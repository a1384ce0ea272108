using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using OmniStore.Content;
using OmniStore.Node.Internal;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Transport;

using OmniStore.Internal;

namespace OmniStore.Node;

/// <summary>
/// A root or relay: serves its children over the protocol from its <see cref="ContentStore"/>,
/// and (a relay) fills misses from its parent, coalescing concurrent misses for one item into one
/// upstream request. See docs/architecture.md, "The tree".
/// </summary>
internal sealed partial class TreeNode : IRequestHandler, IAsyncDisposable
{
    private readonly TreeNodeOptions _options;
    private readonly ILogger _logger;
    private readonly ContentStore _store;
    private readonly IConnectionListener _listener;
    private readonly ParentLink? _parent;
    private readonly ConnectionIdentity _identity;
    private readonly ConcurrentDictionary<PeerConnection, byte> _children = new();
    private readonly BindingCache _bindingCache;
    // Keyed by id and asked length: a request with a wrong length fails alone instead of failing
    // every request that joined it.
    private readonly SingleFlight<(ChunkId Id, int Length), FetchedChunk> _chunkFetches;
    private readonly SingleFlight<ManifestId, Manifest> _manifestFetches;
    private readonly SingleFlight<string, BindingMessage> _resolves;
    private readonly CancellationTokenSource _stopping = new();
    private readonly LinkCounters _retiredChildCounters = new();
    private readonly MemoryBudget _memory;
    private readonly ConnectionLimits _connectionLimits;
    private readonly ConnectionAdmission _admission;
    private Task? _acceptLoop;
    private int _inFlight;
    private long _upstreamChunkFetches;
    private long _answerBufferBytes;
    private int _disposed;

    private TreeNode(TreeNodeOptions options, ContentStore store, IConnectionListener listener, NodeIdentity key)
    {
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<TreeNode>();
        _store = store;
        _listener = listener;
        _bindingCache = new BindingCache(options.BindingCacheSize);

        // Upstream fetches are shared by every child that asks: they live as long as the node.
        _chunkFetches = new(_stopping.Token, unclaimed: static fetched => fetched.TakeMessage()?.Dispose());
        _manifestFetches = new(_stopping.Token);
        _resolves = new(_stopping.Token);
        _memory = new MemoryBudget(options.MemoryBudget);
        _connectionLimits = options.ConnectionLimits with { Budget = _memory };
        _misses = new RelayMisses(options);
        _admission = CreateAdmission(options);
        _identity = CreateIdentity(key);
        Addresses = listener.Addresses;
        Address = Addresses[0];
        if (options.Parent is { } parent)
        {
            _parent = new ParentLink(parent, options.Transports, _identity, this, _connectionLimits, _logger);
            WatchParent(_parent);
            _parent.Connected += connection => connection.Liveness = options.Liveness;
        }
    }

    /// <summary>Where the node listens (with the actual port if 0 was asked for): the first of <see cref="Addresses"/>.</summary>
    public NodeAddress Address { get; }

    /// <summary>Every address the node listens on, in the order of <see cref="TreeNodeOptions.Listen"/> (a host name that resolves to several gives each).</summary>
    public IReadOnlyList<NodeAddress> Addresses { get; }

    public bool IsRoot => _options.IsRoot;

    public ContentStore Store => _store;

    /// <summary>How many names a relay holds the binding of in memory.</summary>
    internal int CachedBindings => _bindingCache.Count;

    public ParentLink? Parent => _parent;

    public string Site => _options.Site;

    /// <summary>The node's id, derived from the key in its data directory: the same across restarts.</summary>
    public NodeId NodeId => _identity.NodeId;

    /// <summary>Requests being served now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Chunks requested from the parent, and requests that joined a fetch already running. A fetch
    /// that finds the chunk cached by an earlier one (the re-check in FetchChunkAsync) is not counted:
    /// nothing crossed the link.
    /// </summary>
    public (long Executions, long Joined) ChunkFetches => (Interlocked.Read(ref _upstreamChunkFetches), _chunkFetches.Joined);

    /// <summary>Traffic with every child since the node started, connected now or gone.</summary>
    public LinkTraffic ChildrenTotal
    {
        get
        {
            lock (_retiredChildCounters)
            {
                var total = LinkTraffic.From(_retiredChildCounters);
                foreach (var child in _children.Keys)
                {
                    total += LinkTraffic.From(child.Counters);
                }

                return total;
            }
        }
    }

    /// <summary>Bytes of buffers rented to answer chunk requests, now.</summary>
    internal long AnswerBufferBytes => Interlocked.Read(ref _answerBufferBytes);

    /// <summary>What the node's connections hold against its memory budget.</summary>
    internal MemoryBudget Memory => _memory;

    public IReadOnlyCollection<PeerConnection> Children => (IReadOnlyCollection<PeerConnection>)_children.Keys;

    /// <summary>Opens the store, binds the listener and, for a relay, starts connecting to the parent.</summary>
    public static async Task<TreeNode> StartAsync(TreeNodeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(nameof(options));
        var store = ContentStore.Open(options.StoreOptions, options.LoggerFactory.CreateLogger<ContentStore>());
        NodeIdentity? key = null;
        IConnectionListener listener;
        try
        {
            // After the store: its lock keeps a second process on this directory from racing here.
            var logger = options.LoggerFactory.CreateLogger<TreeNode>();
            key = NodeIdentityFile.LoadOrCreate(options.DataDirectory, warning => NodeLog.NodeKeyExposed(logger, warning));
            listener = options.Transports.Listen(options.Listen);
        }
        catch
        {
            key?.Dispose();
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var node = new TreeNode(options, store, listener, key);
        RuntimeWarmUp.EnsureTimersRun();
        node._acceptLoop = Task.Run(node.AcceptLoopAsync, CancellationToken.None);
        foreach (var address in node.Addresses)
        {
            NodeLog.Listening(node._logger, node.IsRoot ? "Root" : "Relay", node.NodeId.ToString(), address.ToString(), options.Site, options.DataDirectory);
        }

        NodeLog.RelayPolicy(node._logger, node.RelayPolicy());
        node.LogConnectionLimits();
        if (node._parent is not null)
        {
            await node._parent.StartAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        return node;
    }

    /// <inheritdoc/>
    public async Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            using (request)
            {
                EnsureAllowedFrom(connection, request.Type);
                switch (request.Type)
                {
                    case FrameType.Resolve:
                        await ServeResolveAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    case FrameType.GetManifest:
                        await ServeManifestAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    case FrameType.GetChunk:
                        await ServeChunkAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    case FrameType.Prefetch:
                        await ServePrefetchAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    case FrameType.PutChunk:
                    case FrameType.PushChunk:
                        await AcceptChunkAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    case FrameType.PutManifest:
                        await AcceptManifestAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    case FrameType.Bind:
                        await ServeBindAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    case FrameType.Delete:
                        await ServeDeleteAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    case FrameType.Update:
                        await ApplyUpdateAsync(connection, request, cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        throw new OmniStoreException(OmniStoreError.ProtocolError, $"{request.Type} is not a request.");
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>
    /// Stops accepting, tells children to go away, lets in-flight requests finish for up to
    /// <paramref name="grace"/>, then closes every connection and checkpoints the store.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _listener.DisposeAsync().ConfigureAwait(false);

        // GOAWAY: children send no new requests here (clients move to their next address), and
        // what is in flight finishes. Stop once nothing has been in flight for a moment, or at the
        // end of the grace period.
        await Task.WhenAll(_children.Keys.Select(c => c.SendGoAwayAsync())).ConfigureAwait(false);
        var deadline = DateTime.UtcNow + grace;
        var quietSince = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline && DateTime.UtcNow - quietSince < TimeSpan.FromMilliseconds(200))
        {
            if (InFlight > 0)
            {
                quietSince = DateTime.UtcNow;
            }

            await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
        }

        foreach (var child in _children.Keys)
        {
            await child.DisposeAsync().ConfigureAwait(false);
        }

        if (_parent is not null)
        {
            await _parent.DisposeAsync().ConfigureAwait(false);
        }

        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _store.DisposeAsync().ConfigureAwait(false);
        _identity.Node.Dispose();
        _stopping.Dispose();
    }
}
