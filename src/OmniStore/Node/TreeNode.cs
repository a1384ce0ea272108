using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using OmniStore.Content;
using OmniStore.Node.Internal;
using OmniStore.Node.Requests;
using OmniStore.Node.Upstream;
using OmniStore.Protocol;
using OmniStore.Security;
using OmniStore.Storage;
using OmniStore.Transport;

using OmniStore.Internal;

namespace OmniStore.Node;

/// <summary>
/// A root or relay: serves its children over the protocol from its <see cref="ContentStore"/>, and
/// asks its upstream for the rest: the root's store itself (<see cref="StoreUpstream"/>) or a
/// relay's parent (<see cref="ParentUpstream"/>). See docs/architecture.md, "The tree".
/// </summary>
internal sealed partial class TreeNode : IRequestHandler, IAsyncDisposable
{
    private readonly TreeNodeOptions _options;
    private readonly ILogger _logger;
    private readonly ContentStore _store;
    private readonly IConnectionListener _listener;
    private readonly ConnectionIdentity _identity;
    private readonly ConcurrentDictionary<PeerConnection, byte> _children = new();
    private readonly IUpstream _upstream;
    private readonly ParentUpstream? _relay;
    private readonly RequestTable _requests;
    private readonly CancellationTokenSource _stopping = new();
    private readonly LinkCounters _retiredChildCounters = new();
    private readonly MemoryBudget _memory;
    private readonly ConnectionLimits _connectionLimits;
    private readonly ConnectionAdmission _admission;
    private Task? _acceptLoop;
    private Task? _verifyLoop;
    private int _inFlight;
    private long _requestsServed;
    private long _answerBufferBytes;
    private int _disposed;
    private TlsCredentials? _tls;
    private Nat.NatTraversal? _nat;
    private Nat.Rendezvous.RendezvousService? _rendezvous;
    private Nat.StunServer? _otherStun;

    /// <summary>This node's NAT traversal (its rendezvous registration), or null when it takes part in none.</summary>
    internal Nat.NatTraversal? NatTraversal => _nat;

    /// <summary>The rendezvous this node serves, or null when it serves none.</summary>
    internal Nat.Rendezvous.RendezvousService? RendezvousService => _rendezvous;

    private TreeNode(TreeNodeOptions options, ContentStore store, IConnectionListener listener, NodeIdentity key)
    {
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<TreeNode>();
        _store = store;
        _listener = listener;
        _memory = new MemoryBudget(options.MemoryBudget);
        _connectionLimits = options.ConnectionLimits with { Budget = _memory };
        _admission = CreateAdmission(options);
        _identity = CreateIdentity(key);
        Addresses = listener.Addresses;
        Address = Addresses[0];
        if (options.Parent is { } parent)
        {
            var link = new ParentLink(parent, options.Transports, _identity, this, _connectionLimits, _logger);
            link.Connected += connection => connection.Liveness = options.Liveness;
            _relay = new ParentUpstream(options, store, link, downstream: this, _logger, _stopping.Token);
            _upstream = _relay;

            // After the relay's own handler, which forgets what it remembered before the outage.
            link.Connected += _ => Task.Run(RecheckWaitersAsync);
            link.Problem += _recentErrors.Note;
        }
        else
        {
            _upstream = new StoreUpstream(store, downstream: this, _logger, _stopping.Token);
        }

        _requests = CreateRequestTable();
        CreateWatches();
    }

    /// <summary>The options the node was started with.</summary>
    internal TreeNodeOptions Options => _options;

    /// <summary>Where the node listens (with the actual port if 0 was asked for): the first of <see cref="Addresses"/>.</summary>
    public NodeAddress Address { get; }

    /// <summary>Every address the node listens on, in the order of <see cref="TreeNodeOptions.Listen"/> (a host name that resolves to several gives each).</summary>
    public IReadOnlyList<NodeAddress> Addresses { get; }

    public bool IsRoot => _options.IsRoot;

    public ContentStore Store => _store;

    /// <summary>How many names a relay holds the binding of in memory.</summary>
    internal int CachedBindings => _relay?.CachedBindings ?? 0;

    /// <summary>A relay's connection to its parent; null at the root.</summary>
    public ParentLink? Parent => _relay?.Link;

    public string Site => _options.Site;

    /// <summary>The node's id, derived from the key in its data directory: the same across restarts.</summary>
    public NodeId NodeId => _identity.NodeId;

    /// <summary>Requests being served now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Requests answered (or failed) since the node started.</summary>
    public long RequestsServed => Interlocked.Read(ref _requestsServed);

    /// <summary>
    /// Chunks requested from the parent, and requests that joined a fetch already running. A fetch
    /// that finds the chunk cached by an earlier one (the re-check in FetchChunkAsync) is not counted:
    /// nothing crossed the link.
    /// </summary>
    public (long Executions, long Joined) ChunkFetches => _relay?.ChunkFetches ?? default;

    /// <summary>Chunks this relay's parent sent with bytes that do not match their id: never cached, answered Corrupt (docs/architecture.md, "Cut-through on a miss").</summary>
    public long CorruptFetches => _relay?.CorruptChunkFetches ?? 0;

    /// <summary>Requests answered NotFound from a remembered miss, and requests refused because their connection caused too many misses.</summary>
    internal (long Remembered, long Refused) Misses => _relay?.Misses ?? default;

    /// <summary>Whether this relay answers names: false while it may have missed an update (always true at the root).</summary>
    internal bool AnswersNames => _relay?.AnswersNames ?? true;

    /// <summary>Why this relay answers no names now (the first reason since it was last connected); null when it does.</summary>
    internal string? DistrustReason => _relay?.DistrustReason;

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
        TlsCredentials? tls = null;
        IConnectionListener listener;
        Nat.NatTraversal? nat = null;
        Nat.Rendezvous.RendezvousService? rendezvous = null;
        Nat.StunServer? otherStun = null;
        try
        {
            // After the store: its lock keeps a second process on this directory from racing here.
            var logger = options.LoggerFactory.CreateLogger<TreeNode>();
            if (options.Tls is { } files)
            {
                // The certificate's key is the node key: the id the handshake proves is the key TLS checked.
                tls = files.Load();
                key = NodeIdentity.FromCertificate(tls.Certificate);
                options = options with { Transports = options.Transports.WithTls(tls) };
            }
            else
            {
                key = NodeIdentityFile.LoadOrCreate(options.DataDirectory, warning => NodeLog.NodeKeyExposed(logger, warning));
            }

            listener = options.Transports.Listen(options.Listen);
            if (options.ServesRendezvous ?? options.Parent is null)
            {
                rendezvous = new Nat.Rendezvous.RendezvousService(logger: options.LoggerFactory.CreateLogger<Nat.Rendezvous.RendezvousService>());
                options = options with { Modules = [.. options.Modules, rendezvous] };
                if (listener.DatagramSockets is [var first, ..])
                {
                    // A second address that answers STUN, so registrants learn their NAT's mapping behaviour.
                    otherStun = Nat.StunServer.Start(first.LocalEndPoint.Address);
                    rendezvous.OtherAddress = otherStun.LocalEndPoint;
                }
            }

            if (options.EffectiveRendezvous is { } at)
            {
                // One socket for everything NAT traversal sends: the listener's, whose mapping peers are told.
                var sockets = listener.DatagramSockets;
                var socket = sockets.FirstOrDefault(e => e.LocalEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? (sockets.Count > 0 ? sockets[0] : null);
                var identity = new ConnectionIdentity(key, NodeRole.Client, options.Site, options.Secret);
                nat = new Nat.NatTraversal(new Nat.NatOptions { Rendezvous = at, Name = options.NodeName, Tls = tls, PortMapping = options.PortMapping ? new Nat.PortMapping.PortMapperOptions() : null }, socket, identity, options.LoggerFactory.CreateLogger<Nat.NatTraversal>());
                options = options with { Transports = options.Transports.With(new Nat.NatTransport(options.Transports.Get("rudp"), nat)) };
            }
        }
        catch
        {
            if (nat is not null)
            {
                await nat.DisposeAsync().ConfigureAwait(false);
            }

            if (otherStun is not null)
            {
                await otherStun.DisposeAsync().ConfigureAwait(false);
            }

            key?.Dispose();
            tls?.Dispose();
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var node = new TreeNode(options, store, listener, key) { _tls = tls, _nat = nat, _rendezvous = rendezvous, _otherStun = otherStun };
        node.StartRevocations();
        RuntimeWarmUp.EnsureTimersRun();
        node._acceptLoop = Task.Run(node.AcceptLoopAsync, CancellationToken.None);
        if (node.Parent is not null)
        {
            node._treeReportLoop = Task.Run(node.TreeReportLoopAsync, CancellationToken.None);
        }

        if (options.VerifyInterval is { } every)
        {
            node._verifyLoop = Task.Run(() => node.VerifyLoopAsync(every), CancellationToken.None);
        }

        foreach (var address in node.Addresses)
        {
            NodeLog.Listening(node._logger, node.IsRoot ? "Root" : "Relay", node.NodeId.ToString(), address.ToString(), options.Site, options.DataDirectory);
        }

        NodeLog.RelayPolicy(node._logger, node.RelayPolicy());
        node.LogConnectionLimits();
        nat?.Start();
        if (node.Parent is { } parent)
        {
            await parent.StartAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
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
                // Which requests a peer may send follows from its side, settled by the handshake.
                var entry = _requests.Route(request.Type, connection.PeerSide, connection.Version);
                await entry.Handler(connection, request, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OmniStoreException ex) when (ex.Error is not (OmniStoreError.NotFound or OmniStoreError.Cancelled or OmniStoreError.Disposed))
        {
            _recentErrors.Note($"{connection.Describe()}: {ex.Message}");
            throw;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            Interlocked.Increment(ref _requestsServed);
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
        if (_upstream is StoreUpstream root)
        {
            await root.DisposeAsync().ConfigureAwait(false); // no expiry starts once the node stops
        }

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

        if (Parent is { } parent)
        {
            await parent.DisposeAsync().ConfigureAwait(false);
        }

        if (_nat is not null)
        {
            await _nat.DisposeAsync().ConfigureAwait(false);
        }

        if (_rendezvous is not null)
        {
            await _rendezvous.DisposeAsync().ConfigureAwait(false);
        }

        if (_otherStun is not null)
        {
            await _otherStun.DisposeAsync().ConfigureAwait(false);
        }

        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        if (_verifyLoop is not null)
        {
            await _verifyLoop.ConfigureAwait(false);
        }

        if (_treeReportLoop is not null)
        {
            await _treeReportLoop.ConfigureAwait(false);
        }

        if (_revocationWatch is not null)
        {
            await _revocationWatch.ConfigureAwait(false);
        }

        await WaitForVerificationAsync().ConfigureAwait(false);
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
        _tls?.Dispose();
        _stopping.Dispose();
    }
}
