namespace OmniStore.Storage;

/// <summary>How a store behaves when it reaches its capacity.</summary>
public enum StoreMode
{
    /// <summary>
    /// Never evicts: when full it refuses new data with <see cref="OmniStoreError.StoreFull"/>.
    /// Space held by deleted or rebound objects is reclaimed first. The root's mode.
    /// </summary>
    Pinned,

    /// <summary>
    /// A bounded cache: when full it evicts the oldest chunks that nobody read since the previous
    /// eviction pass; recently read chunks and chunks of objects being read are kept. A relay's mode.
    /// </summary>
    Cache,
}
