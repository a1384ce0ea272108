using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using OmniStore.Diagnostics;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Transport;
using OmniStore.Transport.Internal;

namespace OmniStore;

/// <summary>
/// The way into OmniStore: a master puts named objects, workers get them. Create one with
/// <see cref="OpenEmbedded"/> (an in-process store, no network). All members are thread-safe.
/// </summary>
/// <remarks>
/// A Put returns once the object is durable: its chunks, manifest and name binding survive a crash.
/// A re-Put of a name atomically rebinds it to the new content; a Get reads one version, never a
/// mix of two. A <c>null</c> name raises <see cref="ArgumentNullException"/>, as any null argument
/// does; a name that is not one raises <see cref="OmniStoreException"/> with <see cref="OmniStoreError.InvalidName"/>.
/// </remarks>
public sealed partial class OmniStoreClient : IOmniStoreClient
{
    private readonly IObjectService _service;
    private readonly OmniStoreOptions _options;
    private int _disposed;

    private OmniStoreClient(IObjectService service, OmniStoreOptions options)
    {
        _service = service;
        _options = options;
        if (service is RemoteObjectService remote)
        {
            remote.Moved += (moved, restored) => (restored ? Restored : Failover)?.Invoke(this, moved);
        }
    }

    /// <summary>
    /// The address of the node a connected client talks to now (<c>tcp://relay:7070</c>); null for
    /// the embedded store. It changes on <see cref="Failover"/> and <see cref="Restored"/>.
    /// </summary>
    public string? CurrentEndpoint => _service is RemoteObjectService remote ? remote.CurrentAddress.ToString() : null;

    /// <summary>
    /// A connected client moved to the next of its addresses because the node it used failed (the
    /// operation that found it failed carries on there). Raised on the thread of that operation, after
    /// the move; keep handlers short. A handler that throws is logged, and the operation goes on.
    /// </summary>
    public event EventHandler<EndpointChangedEventArgs>? Failover;

    /// <summary>
    /// A connected client that had moved away from its first address moved back to an earlier one,
    /// which answered again (tried every <see cref="OmniStoreOptions.FailbackInterval"/>). Raised on a
    /// thread-pool thread; operations already running finish on the node they started with.
    /// </summary>
    public event EventHandler<EndpointChangedEventArgs>? Restored;

    /// <summary>The node behind this client (tests and the CLI reach the embedded store through it).</summary>
    internal IObjectService Service => _service;

    /// <summary>The options the client was created with.</summary>
    public OmniStoreOptions Options => _options;

    /// <summary>
    /// Opens the embedded default: a store in <see cref="OmniStoreOptions.DataDirectory"/> in this
    /// process, created if missing and recovered if it exists.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> if another process has the store open; <see cref="OmniStoreError.Corrupt"/> if it cannot be recovered.</exception>
    public static OmniStoreClient OpenEmbedded(OmniStoreOptions? options = null)
    {
        options ??= new OmniStoreOptions();
        options.Validate(nameof(options));
        var store = ContentStore.Open(options.ToStoreOptions());
        return new OmniStoreClient(new EmbeddedNode(store), options);
    }

    /// <summary>
    /// Connects to a relay or root at <paramref name="uri"/> (<c>tcp://host:port</c>, or a
    /// comma-separated list of addresses tried in order, <c>tcp://relay:7070,tcp://root:7070</c>),
    /// moving on to the next address, then to <see cref="OmniStoreOptions.FallbackUris"/>, when one
    /// is unreachable or something other than a node answers there. The address grammar is in
    /// docs/architecture.md, "Addresses". Settings may follow the addresses, each after a <c>;</c>
    /// (a connection string: <c>secretFile</c>, <c>tlsCert</c>, <c>tlsKey</c>, <c>tlsCa</c>,
    /// <c>tlsCrl</c>, <c>window</c>); they fill what <paramref name="options"/> leaves unset.
    /// </summary>
    /// <exception cref="OmniStoreException">
    /// <see cref="OmniStoreError.InvalidArgument"/> if an address is not one (the message names the
    /// element and what is wrong); <see cref="OmniStoreError.Unavailable"/> if no address answers;
    /// <see cref="OmniStoreError.Unauthorized"/> if the secret is refused.
    /// </exception>
    public static Task<OmniStoreClient> ConnectAsync(string uri, OmniStoreOptions? options = null, CancellationToken cancellationToken = default) =>
        ConnectAsync([(null, uri)], options ?? new OmniStoreOptions(), cancellationToken);

    /// <summary>
    /// Connects to the addresses of <paramref name="sources"/> in order, then to the fallbacks of
    /// <paramref name="options"/>; each source is a comma-separated list whose label (an option or a
    /// variable) names it in messages.
    /// </summary>
    internal static async Task<OmniStoreClient> ConnectAsync(IReadOnlyList<(string? Label, string? Text)> sources, OmniStoreOptions options, CancellationToken cancellationToken)
    {
        var (dialable, ready) = Prepare(sources, options);
        var service = await RemoteObjectService.ConnectAsync([.. dialable.Select(d => d.Endpoint)], [.. dialable.Select(d => d.Expected)], ready.SharedSecret, ready.Tls, ready.TransferWindow, ready.LoggerFactory.CreateLogger<OmniStoreClient>(), cancellationToken, ready.Rendezvous is null ? null : NodeAddress.Parse(ready.Rendezvous), ready.FailbackInterval).ConfigureAwait(false);
        return new OmniStoreClient(service, ready);
    }

    /// <summary>
    /// A client of the node at <paramref name="connectionString"/> (addresses and settings, as
    /// <see cref="ConnectAsync(string, OmniStoreOptions?, CancellationToken)"/> takes them) that
    /// connects on its first request: nothing here waits on the network, so it suits constructors
    /// and dependency injection. What can be checked without a connection is checked now.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> for a bad address or setting (the message names it); the first request raises what <see cref="ConnectAsync(string, OmniStoreOptions?, CancellationToken)"/> would (<see cref="OmniStoreError.Unavailable"/>, <see cref="OmniStoreError.Unauthorized"/>).</exception>
    public static OmniStoreClient Create(string connectionString, OmniStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        return Create([(null, connectionString)], options ?? new OmniStoreOptions());
    }

    private static OmniStoreClient Create(IReadOnlyList<(string? Label, string? Text)> sources, OmniStoreOptions options)
    {
        var (dialable, ready) = Prepare(sources, options);
        var service = RemoteObjectService.Create([.. dialable.Select(d => d.Endpoint)], [.. dialable.Select(d => d.Expected)], ready.SharedSecret, ready.Tls, ready.TransferWindow, ready.LoggerFactory.CreateLogger<OmniStoreClient>(), ready.Rendezvous is null ? null : NodeAddress.Parse(ready.Rendezvous), ready.FailbackInterval);
        return new OmniStoreClient(service, ready);
    }

    /// <summary>What is wrong with <paramref name="connectionString"/> (its addresses or settings), or null if nothing is; nothing is opened or dialed.</summary>
    internal static string? CheckConnectionString(string connectionString)
    {
        try
        {
            _ = Prepare([(null, connectionString)], new OmniStoreOptions());
            return null;
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.InvalidArgument)
        {
            return ex.Message;
        }
    }

    /// <summary>
    /// The addresses of <paramref name="sources"/> (each source a comma-separated list, perhaps with
    /// settings after a <c>;</c>, its label naming it in messages) and the fallbacks, and the options
    /// with the sources' settings applied and validated.
    /// </summary>
    private static (List<(NodeAddress Endpoint, NodeId? Expected)> Dialable, OmniStoreOptions Options) Prepare(IReadOnlyList<(string? Label, string? Text)> sources, OmniStoreOptions options)
    {
        // A source may carry settings after its addresses (a connection string: docs/tls.md, "Spellings").
        var addressLists = new List<(string? Label, string? Text)>(sources.Count);
        foreach (var (label, text) in sources)
        {
            if (text is null)
            {
                addressLists.Add((label, text));
                continue;
            }

            var (addressText, settings) = ConnectionString.Split(text, label);
            options = ConnectionString.Apply(options, settings, label);
            addressLists.Add((label, addressText));
        }

        options.Validate(nameof(options));
        if (AddressGrammar.TryParseList(addressLists.Concat(options.FallbackSources()), AddressSchemes.Default, out var addresses) is { } error)
        {
            throw AddressGrammar.InvalidArgument(error);
        }

        return ([.. addresses.Select(Dialable)], options);
    }

    /// <summary>
    /// Where to dial <paramref name="address"/>, and the node id the peer there must prove, if the
    /// address names one (<c>tcp://relay:7070#ID</c>; docs/protocol.md, "Node identity").
    /// </summary>
    internal static (NodeAddress Endpoint, NodeId? Expected) Dialable(PeerAddress address) => address switch
    {
        { Endpoint: null } => throw AddressGrammar.InvalidArgument(
            $"'{address}' names a node by its id alone, which needs a rendezvous that this version does not have: give the node's address"),
        { NodeId: { } id } => NodeId.TryParse(id, out var expected)
            ? (address.Endpoint, expected)
            : throw AddressGrammar.InvalidArgument($"'{address}' names a node id of {id.Length} hex digits; a node id of this version has {2 * NodeId.Size}"),
        _ => (address.Endpoint, null),
    };

    /// <summary>
    /// The client the environment asks for: of the node at <c>$OMNISTORE_RELAY</c> if it is set
    /// (an address or a comma-separated list, with <c>$OMNISTORE_FALLBACK</c>, likewise, as
    /// fallbacks unless <see cref="OmniStoreOptions.FallbackUris"/> are set, and the tree's shared
    /// secret from the file <c>$OMNISTORE_SECRET_FILE</c> names), else the embedded default.
    /// Options that are set win over the environment. A client of a node connects on its first
    /// request (as <see cref="Create(string, OmniStoreOptions?)"/>), so this never waits on the
    /// network; <see cref="FromEnvironmentAsync"/> connects before it returns.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> if a variable holds a bad address (the message names the variable), and as <see cref="OpenEmbedded"/>.</exception>
    public static OmniStoreClient FromEnvironment(OmniStoreOptions? options = null)
    {
        var (sources, ready) = EnvironmentSources(options);
        return sources is null ? OpenEmbedded(ready) : Create(sources, ready);
    }

    /// <summary>
    /// As <see cref="FromEnvironment"/>, connecting to the node before it returns (so an
    /// unreachable node or a refused secret is raised here); the embedded store is opened as there.
    /// </summary>
    /// <exception cref="OmniStoreException">As <see cref="FromEnvironment"/>, and as <see cref="ConnectAsync(string, OmniStoreOptions?, CancellationToken)"/>.</exception>
    public static async Task<OmniStoreClient> FromEnvironmentAsync(OmniStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (sources, ready) = EnvironmentSources(options);
        return sources is null
            ? OpenEmbedded(ready)
            : await ConnectAsync(sources, ready, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The address sources the environment names (null: none, the embedded store), and the options with its settings.</summary>
    private static (List<(string? Label, string? Text)>? Sources, OmniStoreOptions Options) EnvironmentSources(OmniStoreOptions? options)
    {
        options ??= new OmniStoreOptions();
        string? relay = Environment.GetEnvironmentVariable(RelayVariable);
        if (string.IsNullOrWhiteSpace(relay))
        {
            return (null, options);
        }

        var sources = new List<(string?, string?)> { ("$" + RelayVariable, relay) };
        if (options.FallbackUris.Count == 0 && Environment.GetEnvironmentVariable(FallbackVariable) is { } fallback && !string.IsNullOrWhiteSpace(fallback))
        {
            sources.Add(("$" + FallbackVariable, fallback));
        }

        // The relay variable's own settings (a connection string) come before $OMNISTORE_SECRET_FILE.
        var (addresses, settings) = ConnectionString.Split(relay, "$" + RelayVariable);
        options = ConnectionString.Apply(options, settings, "$" + RelayVariable);
        sources[0] = ("$" + RelayVariable, addresses);
        if (options.SharedSecret is null && Internal.SecretFile.FromEnvironment() is { } secret)
        {
            options = options with { SharedSecret = secret };
        }

        return (sources, options);
    }

    /// <summary>The variable <see cref="FromEnvironment"/> reads the relay's address from.</summary>
    internal const string RelayVariable = "OMNISTORE_RELAY";

    /// <summary>The variable <see cref="FromEnvironment"/> reads the fallback addresses from.</summary>
    internal const string FallbackVariable = "OMNISTORE_FALLBACK";

    /// <summary>Stores <paramref name="data"/> under <paramref name="name"/>, replacing what the name was bound to; returns the new binding.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public ObjectInfo Put(string name, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        return PutObserved(name, data, options: null);
    }

    /// <summary>
    /// Stores <paramref name="data"/> under <paramref name="name"/> as <paramref name="putOptions"/>
    /// asks (conditions, a time to live, broadcast); returns the binding, new or (with
    /// <see cref="PutOptions.IfChanged"/>) kept.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> or <paramref name="putOptions"/> is null.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Conflict"/> when a condition does not hold; <see cref="OmniStoreError.InvalidArgument"/> for an option out of range; <see cref="OmniStoreError.ProtocolError"/> for a condition a node of a version before 8 cannot check; as <see cref="Put(string, ReadOnlySpan{byte})"/>.</exception>
    public ObjectInfo Put(string name, ReadOnlySpan<byte> data, PutOptions putOptions)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(putOptions);
        ThrowIfDisposed();
        return PutObserved(name, data, putOptions);
    }

    /// <summary>Stores <paramref name="data"/> under <paramref name="name"/>, replacing what the name was bound to; returns the new binding (its version and manifest id).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public ValueTask<ObjectInfo> PutAsync(string name, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        return PutObservedAsync(name, data, options: null, cancellationToken);
    }

    /// <summary>
    /// Stores <paramref name="data"/> under <paramref name="name"/> as <paramref name="putOptions"/>
    /// asks (conditions, a time to live, broadcast); returns the binding, new or (with
    /// <see cref="PutOptions.IfChanged"/>) kept.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> or <paramref name="putOptions"/> is null.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Conflict"/> when a condition does not hold; <see cref="OmniStoreError.InvalidArgument"/> for an option out of range; <see cref="OmniStoreError.ProtocolError"/> for a condition a node of a version before 8 cannot check; <see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public ValueTask<ObjectInfo> PutAsync(string name, ReadOnlyMemory<byte> data, PutOptions putOptions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(putOptions);
        ThrowIfDisposed();
        return PutObservedAsync(name, data, putOptions, cancellationToken);
    }

    /// <summary>Stores everything <paramref name="source"/> yields under <paramref name="name"/> as <paramref name="putOptions"/> asks; returns the binding.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/>, <paramref name="source"/> or <paramref name="putOptions"/> is null.</exception>
    /// <exception cref="OmniStoreException">As <see cref="PutAsync(string, ReadOnlyMemory{byte}, PutOptions, CancellationToken)"/>.</exception>
    public ValueTask<ObjectInfo> PutAsync(string name, Stream source, PutOptions putOptions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(putOptions);
        ThrowIfDisposed();
        return PutObservedAsync(name, source, putOptions, cancellationToken);
    }

    /// <summary>
    /// Asks the node this client talks to to hold every chunk of <paramref name="name"/> (a relay
    /// fetches what it lacks from its parent), so that later Gets at that site are local.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    public async Task PrefetchAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        await ObservedAsync("prefetch", name, async () =>
        {
            await _service.PrefetchAsync(name, cancellationToken).ConfigureAwait(false);
            return 0L;
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores everything <paramref name="source"/> yields under <paramref name="name"/>, reading one
    /// chunk at a time: memory stays bounded whatever the object's size. Returns the new binding.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> or <paramref name="source"/> is null.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.InvalidArgument"/> for an object larger than the chunk size allows.</exception>
    public ValueTask<ObjectInfo> PutAsync(string name, Stream source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        return PutObservedAsync(name, source, options: null, cancellationToken);
    }

    /// <summary>Reads the whole object bound to <paramref name="name"/> into a new array.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.NotFound"/>, <see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.Corrupt"/>.</exception>
    public ValueTask<byte[]> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        return ObservedAsync("get", name, () => _service.GetAsync(name, cancellationToken), data => data.Length);
    }

    /// <summary>Writes the object bound to <paramref name="name"/> to <paramref name="destination"/>, one chunk at a time; returns its length.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.NotFound"/>, <see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.Corrupt"/>.</exception>
    public ValueTask<long> GetAsync(string name, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        return ObservedAsync("get", name, () => _service.GetAsync(name, destination, cancellationToken), length => length);
    }

    /// <summary>
    /// Copies the object bound to <paramref name="name"/> into <paramref name="destination"/> and
    /// returns its length (the shape of OmniStorage's <c>OmstGetData</c>).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.TooSmall"/> if the destination is shorter than the object (nothing is copied); <see cref="OmniStoreError.NotFound"/>; <see cref="OmniStoreError.InvalidName"/>.</exception>
    public int Get(string name, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        var operation = ClientOperation.Start("get", name);
        try
        {
            int length = _service.Get(name, destination);
            operation.Moved(length);
            return length;
        }
        catch (Exception ex) when (operation.Failed(ex))
        {
            throw; // not reached: the filter records the failure and declines
        }
        finally
        {
            operation.Dispose();
        }
    }

    /// <summary>What the store knows of <paramref name="name"/>, or null if nothing is bound to it.</summary>
    public ValueTask<ObjectInfo?> StatAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        return ObservedAsync("stat", name, () => _service.StatAsync(name, cancellationToken));
    }

    /// <summary>
    /// Reads every chunk of the store and checks it against its id, reporting progress, without
    /// repairing: damaged chunks are marked (every read of them says <see cref="OmniStoreError.Corrupt"/>)
    /// and the result names the objects that use them. See <see cref="VerifyAsync(VerifyOptions?, IProgress{VerifyProgress}?, CancellationToken)"/>.
    /// </summary>
    public Task<VerifyResult> VerifyAsync(IProgress<VerifyProgress>? progress = null, CancellationToken cancellationToken = default) =>
        VerifyAsync(options: null, progress, cancellationToken);

    /// <summary>
    /// Reads every chunk of the store and checks it against its id, reporting progress: the embedded
    /// store here, or for a client of a node, that node's own store (the node runs one verification
    /// at a time; a second request joins it, or waits for a report-only one when it asks for a
    /// repair). Damaged chunks are marked (every read of them says <see cref="OmniStoreError.Corrupt"/>),
    /// or repaired from a verified copy with <see cref="VerifyOptions.Repair"/>; the result names what
    /// is left damaged and the objects that use it. See docs/storage.md, "Damaged chunks".
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> for a repair of the embedded store without <see cref="VerifyOptions.RepairFrom"/>, or with it from a client of a node; <see cref="OmniStoreError.Unavailable"/> if the node (or the node to repair from) cannot be reached; <see cref="OmniStoreError.ProtocolError"/> if the node's answer is malformed.</exception>
    public async Task<VerifyResult> VerifyAsync(VerifyOptions? options, IProgress<VerifyProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        options ??= new VerifyOptions();
        if (options.RepairFrom is not { } from)
        {
            return await _service.VerifyAsync(options.Repair, progress, cancellationToken).ConfigureAwait(false);
        }

        if (_service is not EmbeddedNode embedded || !options.Repair)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, _service is EmbeddedNode
                ? "VerifyOptions.RepairFrom names where a repair fetches from: set Repair too."
                : "VerifyOptions.RepairFrom is for the embedded store: a node repairs from its own tree (its relays below, its parent above).");
        }

        await using var source = await ConnectAsync(from, _options, cancellationToken).ConfigureAwait(false);
        return await embedded.VerifyAsync(progress, (RemoteObjectService)source._service, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Unbinds <paramref name="name"/>; returns whether it was bound. The space it held is reclaimed by
    /// a background pass of the store once removed and replaced objects reach a quarter of it
    /// (docs/storage.md, "Reclaiming space").
    /// </summary>
    public ValueTask<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        return ObservedAsync("delete", name, () => _service.DeleteAsync(name, cancellationToken));
    }

    /// <summary>
    /// Every object bound under <paramref name="prefix"/> (every object, for the empty prefix), in
    /// the order of the names' UTF-8 bytes, fetched a page at a time: any number of names in bounded
    /// memory. A node asks the root (docs/watch.md). Paging is by name, not a snapshot: an object
    /// bound or deleted while the listing runs may or may not appear; one bound throughout appears once.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/> for a prefix no name could start with; <see cref="OmniStoreError.ProtocolError"/> from a node of a protocol version before 7; <see cref="OmniStoreError.Unavailable"/>.</exception>
    public IAsyncEnumerable<ObjectInfo> ListAsync(string prefix = "", CancellationToken cancellationToken = default) =>
        ListAsync(prefix, cached: false, cancellationToken);

    /// <summary>
    /// As <see cref="ListAsync(string, CancellationToken)"/>; with <paramref name="cached"/>, what the
    /// node this client talks to holds itself (a relay's cache) instead of the root's names.
    /// </summary>
    internal async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, bool cached, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ThrowIfDisposed();
        ListMessages.ValidatePrefix(prefix);
        string after = string.Empty;
        while (true)
        {
            var page = await _service.ListPageAsync(new ListRequest(prefix, after, ListMessages.MaxPage, cached), cancellationToken).ConfigureAwait(false);
            foreach (var entry in page.Entries)
            {
                yield return entry;
            }

            if (!page.More)
            {
                yield break;
            }

            after = page.Cursor;
        }
    }

    /// <summary>
    /// Returns once an object is bound to <paramref name="name"/>: at once if one is, else as soon as
    /// a Put binds it, however much later. The node is sent one request and answers it when the
    /// binding reaches it (the root pushes every binding down the tree): nothing polls.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>; <see cref="OmniStoreError.ProtocolError"/> from a node of a protocol version before 7; <see cref="OmniStoreError.Unavailable"/> when no node can be reached.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public ValueTask<ObjectInfo> WaitForAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        return _service.WaitForAsync(name, cancellationToken);
    }

    /// <summary>
    /// Unbinds every object under <paramref name="prefix"/>, a page at a time; returns how many it
    /// unbound. Not atomic: an object bound under the prefix while it runs may stay.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> for the empty prefix (it would unbind everything); <see cref="OmniStoreError.InvalidName"/>; as <see cref="ListAsync(string, CancellationToken)"/>.</exception>
    public async ValueTask<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length == 0)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, "DeletePrefixAsync needs a prefix: the empty one would unbind every object.");
        }

        long deleted = 0;
        await foreach (var entry in ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (await _service.DeleteAsync(entry.Name, cancellationToken).ConfigureAwait(false))
            {
                deleted++;
            }
        }

        return deleted;
    }

    private ObjectInfo PutObserved(string name, ReadOnlySpan<byte> data, PutOptions? options)
    {
        var operation = ClientOperation.Start("put", name);
        try
        {
            var info = _service.Put(name, data, _options.ChunkSize, options);
            operation.Moved(data.Length);
            return info;
        }
        catch (Exception ex) when (operation.Failed(ex))
        {
            throw; // not reached: the filter records the failure and declines
        }
        finally
        {
            operation.Dispose();
        }
    }

    private ValueTask<ObjectInfo> PutObservedAsync(string name, ReadOnlyMemory<byte> data, PutOptions? options, CancellationToken cancellationToken) =>
        ObservedAsync("put", name, () => _service.PutAsync(name, data, _options.ChunkSize, options, cancellationToken), info => info.Length);

    private ValueTask<ObjectInfo> PutObservedAsync(string name, Stream source, PutOptions? options, CancellationToken cancellationToken) =>
        ObservedAsync("put", name, () => _service.PutAsync(name, source, _options.ChunkSize, options, cancellationToken), info => info.Length);

    /// <summary>
    /// Runs <paramref name="run"/> as the client operation <paramref name="operation"/> on
    /// <paramref name="name"/>: in its span, counted, timed, and with the bytes <paramref name="moved"/>
    /// reads from its result (docs/observability.md).
    /// </summary>
    private static async ValueTask<T> ObservedAsync<T>(string operation, string name, Func<ValueTask<T>> run, Func<T, long>? moved = null)
    {
        var observed = ClientOperation.Start(operation, name);
        try
        {
            var result = await run().ConfigureAwait(false);
            observed.Moved(moved?.Invoke(result) ?? 0);
            return result;
        }
        catch (Exception ex) when (observed.Failed(ex))
        {
            throw; // not reached: the filter records the failure and declines
        }
        finally
        {
            observed.Dispose();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _service.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
