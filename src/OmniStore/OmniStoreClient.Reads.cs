using OmniStore.Internal;

namespace OmniStore;

/// <summary>Reads of part of an object, into the caller's memory, as a stream, and with progress.</summary>
public sealed partial class OmniStoreClient
{
    /// <summary>The chunks a stream from <see cref="OpenReadAsync"/> reads ahead of the one being read, at most (fewer when <see cref="OmniStoreOptions.TransferWindow"/> is smaller).</summary>
    internal const int StreamReadAhead = 4;

    /// <summary>
    /// Opens the object bound to <paramref name="name"/> for reading as a seekable, read-only
    /// <see cref="Stream"/>. The stream reads the version bound when it was opened, whatever the name
    /// is rebound to meanwhile; each chunk is fetched when a read reaches it and checked against its
    /// id, and while reads go forward the next chunks (up to 4, at most
    /// <see cref="OmniStoreOptions.TransferWindow"/>) are fetched ahead. A seek costs nothing until
    /// the next read. Dispose the stream to give its buffers back. Not safe for concurrent reads.
    /// </summary>
    /// <exception cref="OmniStoreException">
    /// <see cref="OmniStoreError.NotFound"/>, <see cref="OmniStoreError.InvalidName"/>; from a read:
    /// <see cref="OmniStoreError.Corrupt"/>, <see cref="OmniStoreError.Unavailable"/>, or
    /// <see cref="OmniStoreError.NotFound"/> when the opened version was replaced and its chunks
    /// reclaimed from every node on the way before the read.
    /// </exception>
    public async ValueTask<Stream> OpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var opened = await _service.OpenAsync(name, cancellationToken).ConfigureAwait(false);
        return new ObjectReadStream(_service, opened, Math.Min(StreamReadAhead, _options.TransferWindow));
    }

    /// <summary>
    /// Reads the bytes of <paramref name="name"/> from <paramref name="offset"/> into
    /// <paramref name="destination"/> and returns how many were read: the destination's length, or
    /// fewer at the object's end (0 at or past it, as <see cref="RandomAccess.Read(Microsoft.Win32.SafeHandles.SafeFileHandle, Span{byte}, long)"/>).
    /// Only the chunks that cover the range are read, and from a node only they cross the network.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.NotFound"/>, <see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.Corrupt"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public async ValueTask<int> GetRangeAsync(string name, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ThrowIfDisposed();
        using var opened = await _service.OpenAsync(name, cancellationToken).ConfigureAwait(false);
        return await ObjectRanges.ReadAsync(_service, opened, offset, destination, _options.TransferWindow, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads <paramref name="length"/> bytes of <paramref name="name"/> from <paramref name="offset"/>
    /// into a new array: shorter at the object's end, empty at or past it. Only the chunks that cover
    /// the range are read, and from a node only they cross the network.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.NotFound"/>, <see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.Corrupt"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public async ValueTask<byte[]> GetRangeAsync(string name, long offset, int length, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ThrowIfDisposed();
        using var opened = await _service.OpenAsync(name, cancellationToken).ConfigureAwait(false);
        long available = Math.Max(0, opened.Manifest.Length - offset);
        var result = GC.AllocateUninitializedArray<byte>((int)Math.Min(length, available));
        int read = await ObjectRanges.ReadAsync(_service, opened, offset, result, _options.TransferWindow, cancellationToken).ConfigureAwait(false);
        return read == result.Length ? result : result[..read];
    }

    /// <summary>
    /// Copies the object bound to <paramref name="name"/> into <paramref name="destination"/> and
    /// returns its length; the asynchronous form of <see cref="Get(string, Span{byte})"/>, for
    /// memory the caller owns (a pooled or native buffer).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.TooSmall"/> if the destination is shorter than the object (nothing is copied); <see cref="OmniStoreError.NotFound"/>; <see cref="OmniStoreError.InvalidName"/>; <see cref="OmniStoreError.Corrupt"/>.</exception>
    public async ValueTask<int> GetAsync(string name, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        using var opened = await _service.OpenAsync(name, cancellationToken).ConfigureAwait(false);
        if (opened.Manifest.Length > destination.Length)
        {
            throw ThrowHelper.TooSmall(opened.Manifest.Length, destination.Length);
        }

        return await ObjectRanges.ReadAsync(_service, opened, 0, destination, _options.TransferWindow, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the object bound to <paramref name="name"/> to <paramref name="destination"/>, reporting
    /// the bytes written so far to <paramref name="progress"/> after each chunk; returns its length.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.NotFound"/>, <see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.Corrupt"/>.</exception>
    public ValueTask<long> GetAsync(string name, Stream destination, IProgress<long>? progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return GetAsync(name, progress is null ? destination : new ProgressStream(destination, progress), cancellationToken);
    }

    /// <summary>
    /// Stores everything <paramref name="source"/> yields under <paramref name="name"/> as
    /// <paramref name="putOptions"/> asks, reporting the bytes taken from the source so far to
    /// <paramref name="progress"/> (the Put is done, and durable, when the returned task completes).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/>, <see cref="OmniStoreError.StoreFull"/>, <see cref="OmniStoreError.Unavailable"/>.</exception>
    public ValueTask<ObjectInfo> PutAsync(string name, Stream source, PutOptions putOptions, IProgress<long>? progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        return PutAsync(name, progress is null ? source : new ProgressStream(source, progress), putOptions, cancellationToken);
    }
}
