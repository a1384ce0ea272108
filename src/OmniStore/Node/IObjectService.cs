namespace OmniStore.Node;

/// <summary>
/// What a client can ask of a node, wherever the node is: in process (the embedded default) or
/// across a connection. <see cref="OmniStoreClient"/> is a thin face over one of these.
/// </summary>
internal interface IObjectService : IAsyncDisposable
{
    /// <summary>Stores an object and binds the name as <paramref name="options"/> ask (null: unconditionally, no broadcast, no expiry).</summary>
    ValueTask<ObjectInfo> PutAsync(string name, Stream source, int chunkSize, PutOptions? options, CancellationToken cancellationToken);

    ValueTask<ObjectInfo> PutAsync(string name, ReadOnlyMemory<byte> data, int chunkSize, PutOptions? options, CancellationToken cancellationToken);

    ObjectInfo Put(string name, ReadOnlySpan<byte> data, int chunkSize, PutOptions? options);

    ValueTask<long> GetAsync(string name, Stream destination, CancellationToken cancellationToken);

    ValueTask<byte[]> GetAsync(string name, CancellationToken cancellationToken);

    int Get(string name, Span<byte> destination);

    /// <summary>Resolves <paramref name="name"/> once, for reads of its chunks one by one (<see cref="ReadChunkAsync"/>).</summary>
    ValueTask<OpenedObject> OpenAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// Reads chunk <paramref name="index"/> of <paramref name="opened"/> into
    /// <paramref name="destination"/> (exactly the chunk's length), checked against its id.
    /// </summary>
    ValueTask ReadChunkAsync(OpenedObject opened, int index, Memory<byte> destination, CancellationToken cancellationToken);

    ValueTask<ObjectInfo?> StatAsync(string name, CancellationToken cancellationToken);

    ValueTask<bool> DeleteAsync(string name, CancellationToken cancellationToken);

    /// <summary>A page of the names under a prefix (LIST, or the embedded store's own), in name order.</summary>
    Task<Protocol.Listing> ListPageAsync(Protocol.ListRequest asked, CancellationToken cancellationToken);

    /// <summary>Returns once the name is bound (WAIT, or the embedded store's own Puts).</summary>
    ValueTask<ObjectInfo> WaitForAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// One WATCH (or the embedded store's own): the changes under a prefix, positions and resets
    /// included, until cancelled; ends with <see cref="OmniStoreError.Unavailable"/> when the watch
    /// is lost (the caller resumes it from the last sequence it saw).
    /// </summary>
    IAsyncEnumerable<Protocol.ChangeMessage> WatchAsync(Protocol.WatchRequest asked, CancellationToken cancellationToken);

    /// <summary>Asks the node to hold every chunk of the object (a relay fetches what it lacks).</summary>
    Task PrefetchAsync(string name, CancellationToken cancellationToken);

    /// <summary>Reads and checks every chunk of the store (in process, or the node's own, asked with VERIFY); with <paramref name="repair"/>, repairs what it can.</summary>
    Task<VerifyResult> VerifyAsync(bool repair, IProgress<VerifyProgress>? progress, CancellationToken cancellationToken);
}
