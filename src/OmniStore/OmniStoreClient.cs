using OmniStore.Node;
using OmniStore.Storage;

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
public sealed class OmniStoreClient : IAsyncDisposable, IDisposable
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
    /// Connects to a relay or root at <paramref name="uri"/> (<c>tcp://host:port</c>), falling back
    /// to <see cref="OmniStoreOptions.FallbackUris"/> in order when it is unreachable.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> if no address answers; <see cref="OmniStoreError.Unauthorized"/> if the secret is refused.</exception>
    /// <exception cref="FormatException"><paramref name="uri"/> is not a node address.</exception>
    public static async Task<OmniStoreClient> ConnectAsync(string uri, OmniStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new OmniStoreOptions();
        options.Validate(nameof(options));
        var addresses = new[] { uri }.Concat(options.FallbackUris).Select(Transport.NodeAddress.Parse).ToList();
        var service = await RemoteObjectService.ConnectAsync(addresses, options.SharedSecret, options.TransferWindow, cancellationToken).ConfigureAwait(false);
        return new OmniStoreClient(service, options);
    }

    /// <summary>
    /// The client the environment asks for: connected to <c>$OMNISTORE_RELAY</c> if it is set
    /// (with <c>$OMNISTORE_FALLBACK</c>, comma-separated, as fallbacks, and the tree's shared secret
    /// from the file <c>$OMNISTORE_SECRET_FILE</c> names), else the embedded default. Options that
    /// are set win over the environment.
    /// </summary>
    public static OmniStoreClient FromEnvironment(OmniStoreOptions? options = null)
    {
        options ??= new OmniStoreOptions();
        string? relay = Environment.GetEnvironmentVariable("OMNISTORE_RELAY");
        if (string.IsNullOrWhiteSpace(relay))
        {
            return OpenEmbedded(options);
        }

        if (options.FallbackUris.Count == 0 && Environment.GetEnvironmentVariable("OMNISTORE_FALLBACK") is { Length: > 0 } fallback)
        {
            options = options with { FallbackUris = fallback.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) };
        }

        if (options.SharedSecret is null && Internal.SecretFile.FromEnvironment() is { } secret)
        {
            options = options with { SharedSecret = secret };
        }

        return ConnectAsync(relay.Trim(), options).GetAwaiter().GetResult();
    }

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

    /// <summary>Unbinds <paramref name="name"/>; returns whether it was bound. The space is reclaimed later.</summary>
    public ValueTask<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _service.DeleteAsync(name, cancellationToken);
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
