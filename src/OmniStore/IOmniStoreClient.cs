namespace OmniStore;

/// <summary>
/// What an application does with an <see cref="OmniStoreClient"/>, as an interface, so that code
/// using the store can be given a fake in its tests (the dependency-injection package registers the
/// client as this too). The members are the client's: see there for what each does and raises.
/// </summary>
public interface IOmniStoreClient : IAsyncDisposable, IDisposable
{
    /// <inheritdoc cref="OmniStoreClient.CurrentEndpoint"/>
    string? CurrentEndpoint { get; }

    /// <inheritdoc cref="OmniStoreClient.Failover"/>
    event EventHandler<EndpointChangedEventArgs>? Failover;

    /// <inheritdoc cref="OmniStoreClient.Restored"/>
    event EventHandler<EndpointChangedEventArgs>? Restored;

    /// <inheritdoc cref="OmniStoreClient.Put(string, ReadOnlySpan{byte})"/>
    ObjectInfo Put(string name, ReadOnlySpan<byte> data);

    /// <inheritdoc cref="OmniStoreClient.Put(string, ReadOnlySpan{byte}, PutOptions)"/>
    ObjectInfo Put(string name, ReadOnlySpan<byte> data, PutOptions putOptions);

    /// <inheritdoc cref="OmniStoreClient.PutAsync(string, ReadOnlyMemory{byte}, CancellationToken)"/>
    ValueTask<ObjectInfo> PutAsync(string name, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.PutAsync(string, ReadOnlyMemory{byte}, PutOptions, CancellationToken)"/>
    ValueTask<ObjectInfo> PutAsync(string name, ReadOnlyMemory<byte> data, PutOptions putOptions, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.PutAsync(string, Stream, CancellationToken)"/>
    ValueTask<ObjectInfo> PutAsync(string name, Stream source, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.PutAsync(string, Stream, PutOptions, CancellationToken)"/>
    ValueTask<ObjectInfo> PutAsync(string name, Stream source, PutOptions putOptions, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.PutAsync(string, Stream, PutOptions, IProgress{long}?, CancellationToken)"/>
    ValueTask<ObjectInfo> PutAsync(string name, Stream source, PutOptions putOptions, IProgress<long>? progress, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.GetAsync(string, CancellationToken)"/>
    ValueTask<byte[]> GetAsync(string name, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.GetAsync(string, Stream, CancellationToken)"/>
    ValueTask<long> GetAsync(string name, Stream destination, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.GetAsync(string, Stream, IProgress{long}?, CancellationToken)"/>
    ValueTask<long> GetAsync(string name, Stream destination, IProgress<long>? progress, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.GetAsync(string, Memory{byte}, CancellationToken)"/>
    ValueTask<int> GetAsync(string name, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.Get(string, Span{byte})"/>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1716", Justification = "The client's own name for it (Put and Get, as OmniStorage's OmstPutData and OmstGetData); Visual Basic callers implement it with brackets.")]
    int Get(string name, Span<byte> destination);

    /// <inheritdoc cref="OmniStoreClient.GetRangeAsync(string, long, int, CancellationToken)"/>
    ValueTask<byte[]> GetRangeAsync(string name, long offset, int length, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.GetRangeAsync(string, long, Memory{byte}, CancellationToken)"/>
    ValueTask<int> GetRangeAsync(string name, long offset, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.OpenReadAsync(string, CancellationToken)"/>
    ValueTask<Stream> OpenReadAsync(string name, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.StatAsync(string, CancellationToken)"/>
    ValueTask<ObjectInfo?> StatAsync(string name, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.DeleteAsync(string, CancellationToken)"/>
    ValueTask<bool> DeleteAsync(string name, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.DeletePrefixAsync(string, CancellationToken)"/>
    ValueTask<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.ListAsync(string, CancellationToken)"/>
    IAsyncEnumerable<ObjectInfo> ListAsync(string prefix = "", CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.WatchAsync(string, CancellationToken)"/>
    IAsyncEnumerable<ObjectChange> WatchAsync(string prefix, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.WatchAsync(string, long, CancellationToken)"/>
    IAsyncEnumerable<ObjectChange> WatchAsync(string prefix, long afterSequence, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.WaitForAsync(string, CancellationToken)"/>
    ValueTask<ObjectInfo> WaitForAsync(string name, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.PrefetchAsync(string, CancellationToken)"/>
    Task PrefetchAsync(string name, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.VerifyAsync(IProgress{VerifyProgress}?, CancellationToken)"/>
    Task<VerifyResult> VerifyAsync(IProgress<VerifyProgress>? progress = null, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="OmniStoreClient.VerifyAsync(VerifyOptions?, IProgress{VerifyProgress}?, CancellationToken)"/>
    Task<VerifyResult> VerifyAsync(VerifyOptions? options, IProgress<VerifyProgress>? progress = null, CancellationToken cancellationToken = default);
}
