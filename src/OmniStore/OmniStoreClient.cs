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
        await _service.PutAsync(name, data, _options.ChunkSize, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores everything <paramref name="source"/> yields under <paramref name="name"/>, reading one
    /// chunk at a time: memory stays bounded whatever the object's size.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.InvalidArgument"/> for an object larger than the chunk size allows.</exception>
    public async ValueTask PutAsync(string name, Stream source, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _service.PutAsync(name, source, _options.ChunkSize, cancellationToken).ConfigureAwait(false);
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
