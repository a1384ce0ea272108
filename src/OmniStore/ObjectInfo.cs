using OmniStore.Content;

namespace OmniStore;

/// <summary>What a store knows of a named object, as returned by <see cref="OmniStoreClient.StatAsync"/>.</summary>
/// <param name="Name">The object's name.</param>
/// <param name="Length">The object's length in bytes.</param>
/// <param name="ChunkSize">The chunk size the object was split with.</param>
/// <param name="ChunkCount">How many chunks the object has (0 for an empty object).</param>
/// <param name="Version">The binding's version: it grows by one with every rebinding of the name.</param>
/// <param name="ManifestId">The content id of the object's manifest.</param>
public sealed record ObjectInfo(string Name, long Length, int ChunkSize, int ChunkCount, long Version, ManifestId ManifestId)
{
    /// <summary>
    /// The indices of the object's chunks that the store knows to be damaged (they failed
    /// verification and no verified copy has replaced them yet), in order; empty for an object the
    /// store has found whole. Every Get of a damaged object fails with <see cref="OmniStoreError.Corrupt"/>.
    /// </summary>
    public IReadOnlyList<int> DamagedChunks { get; init; } = [];

    /// <summary>
    /// When the binding expires (it was put with <see cref="PutOptions.TimeToLive"/>), by the
    /// root's clock, to the millisecond; null for a binding that does not expire. From a node of a
    /// protocol version before 8, always null.
    /// </summary>
    public DateTimeOffset? Expires { get; init; }
}
