namespace OmniStore.Node.Internal;

/// <summary>
/// What one upstream chunk fetch leaves behind for the requests waiting on it. The chunk is in the
/// cache (or waiting there to be written behind, where reads find it), and the received message is
/// handed to the one request that started the fetch, which answers from it instead of reading back
/// what was just cached (a copy and a hash less per chunk on a miss); requests that joined the fetch
/// read the cache. When the cache could not take the chunk, <see cref="Uncached"/> holds a copy that
/// every waiter answers from.
/// </summary>
internal sealed class FetchedChunk
{
    private IDisposable? _message;

    private FetchedChunk(IDisposable? message, ReadOnlyMemory<byte> data, byte[]? uncached)
    {
        _message = message;
        Data = data;
        Uncached = uncached;
    }

    /// <summary>The chunk's bytes inside the received message; valid while that message is owned.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The chunk's bytes when the cache could not take them; null once it is cached.</summary>
    public byte[]? Uncached { get; }

    /// <summary>The chunk was cached by an earlier fetch: there is no message to hand over.</summary>
    public static FetchedChunk AlreadyCached { get; } = new(null, default, null);

    /// <summary>Cached; <paramref name="message"/> keeps <paramref name="data"/> valid (the received message, or a share of it).</summary>
    public static FetchedChunk Cached(IDisposable message, ReadOnlyMemory<byte> data) => new(message, data, null);

    public static FetchedChunk NotCached(byte[] bytes) => new(null, default, bytes);

    /// <summary>Takes ownership of what keeps <see cref="Data"/> valid (once; null afterwards or if there is none).</summary>
    public IDisposable? TakeMessage() => Interlocked.Exchange(ref _message, null);
}
