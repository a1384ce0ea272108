using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
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
/// mix of two.
/// </remarks>
public sealed partial class OmniStoreClient : IAsyncDisposable, IDisposable
{
    private readonly IObjectService _service;
    private readonly OmniStoreOptions _options;
    private int _disposed;

    private OmniStoreClient(IObjectService service, OmniStoreOptions options)
    {
        _service = service;
        _options = options;
    }

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

        sources = addressLists;
        options.Validate(nameof(options));
        if (AddressGrammar.TryParseList(sources.Concat(options.FallbackSources()), AddressSchemes.Default, out var addresses) is { } error)
        {
            throw AddressGrammar.InvalidArgument(error);
        }

        var dialable = addresses.Select(Dialable).ToList();
        var logger = options.LoggerFactory.CreateLogger<OmniStoreClient>();
        var service = await RemoteObjectService.ConnectAsync([.. dialable.Select(d => d.Endpoint)], [.. dialable.Select(d => d.Expected)], options.SharedSecret, options.Tls, options.TransferWindow, logger, cancellationToken, options.Rendezvous is null ? null : NodeAddress.Parse(options.Rendezvous)).ConfigureAwait(false);
        return new OmniStoreClient(service, options);
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
    /// The client the environment asks for: connected to <c>$OMNISTORE_RELAY</c> if it is set
    /// (an address or a comma-separated list, with <c>$OMNISTORE_FALLBACK</c>, likewise, as
    /// fallbacks unless <see cref="OmniStoreOptions.FallbackUris"/> are set, and the tree's shared
    /// secret from the file <c>$OMNISTORE_SECRET_FILE</c> names), else the embedded default.
    /// Options that are set win over the environment.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> if a variable holds a bad address (the message names the variable), and as <see cref="ConnectAsync(string, OmniStoreOptions?, CancellationToken)"/> and <see cref="OpenEmbedded"/>.</exception>
    public static OmniStoreClient FromEnvironment(OmniStoreOptions? options = null)
    {
        options ??= new OmniStoreOptions();
        string? relay = Environment.GetEnvironmentVariable(RelayVariable);
        if (string.IsNullOrWhiteSpace(relay))
        {
            return OpenEmbedded(options);
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

        return ConnectAsync(sources, options, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>The variable <see cref="FromEnvironment"/> reads the relay's address from.</summary>
    internal const string RelayVariable = "OMNISTORE_RELAY";

    /// <summary>The variable <see cref="FromEnvironment"/> reads the fallback addresses from.</summary>
    internal const string FallbackVariable = "OMNISTORE_FALLBACK";

    /// <summary>Stores <paramref name="data"/> under <paramref name="name"/>, replacing what the name was bound to.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public void Put(string name, ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        _service.Put(name, data, _options.ChunkSize);
    }

    /// <summary>Stores <paramref name="data"/> under <paramref name="name"/>, replacing what the name was bound to.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public async ValueTask PutAsync(string name, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _service.PutAsync(name, data, _options.ChunkSize, broadcast: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stores <paramref name="data"/> under <paramref name="name"/> as <paramref name="putOptions"/> asks (for example with broadcast).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public async ValueTask PutAsync(string name, ReadOnlyMemory<byte> data, PutOptions putOptions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(putOptions);
        ThrowIfDisposed();
        await _service.PutAsync(name, data, _options.ChunkSize, putOptions.Broadcast, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stores everything <paramref name="source"/> yields under <paramref name="name"/> as <paramref name="putOptions"/> asks.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public async ValueTask PutAsync(string name, Stream source, PutOptions putOptions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(putOptions);
        ThrowIfDisposed();
        await _service.PutAsync(name, source, _options.ChunkSize, putOptions.Broadcast, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks the node this client talks to to hold every chunk of <paramref name="name"/> (a relay
    /// fetches what it lacks from its parent), so that later Gets at that site are local.
    /// </summary>
    public Task PrefetchAsync(string name, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _service.PrefetchAsync(name, cancellationToken);
    }

    /// <summary>
    /// Stores everything <paramref name="source"/> yields under <paramref name="name"/>, reading one
    /// chunk at a time: memory stays bounded whatever the object's size.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.InvalidArgument"/> for an object larger than the chunk size allows.</exception>
    public async ValueTask PutAsync(string name, Stream source, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _service.PutAsync(name, source, _options.ChunkSize, broadcast: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the whole object bound to <paramref name="name"/> into a new array.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.NotFound"/>, <see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.Corrupt"/>.</exception>
    public ValueTask<byte[]> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _service.GetAsync(name, cancellationToken);
    }

    /// <summary>Writes the object bound to <paramref name="name"/> to <paramref name="destination"/>, one chunk at a time; returns its length.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.NotFound"/>, <see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.Corrupt"/>.</exception>
    public ValueTask<long> GetAsync(string name, Stream destination, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _service.GetAsync(name, destination, cancellationToken);
    }

    /// <summary>
    /// Copies the object bound to <paramref name="name"/> into <paramref name="destination"/> and
    /// returns its length (the shape of OmniStorage's <c>OmstGetData</c>).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.TooSmall"/> if the destination is shorter than the object (nothing is copied); <see cref="OmniStoreError.NotFound"/>; <see cref="OmniStoreError.InvalidName"/>.</exception>
    public int Get(string name, Span<byte> destination)
    {
        ThrowIfDisposed();
        return _service.Get(name, destination);
    }

    /// <summary>What the store knows of <paramref name="name"/>, or null if nothing is bound to it.</summary>
    public ValueTask<ObjectInfo?> StatAsync(string name, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _service.StatAsync(name, cancellationToken);
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
        ThrowIfDisposed();
        return _service.DeleteAsync(name, cancellationToken);
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
