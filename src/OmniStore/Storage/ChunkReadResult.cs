namespace OmniStore.Storage;

/// <summary>The outcome of a chunk read.</summary>
internal enum ChunkReadStatus
{
    /// <summary>The chunk was found, verified and copied.</summary>
    Found,

    /// <summary>The store does not hold the chunk (never stored, or evicted).</summary>
    Missing,

    /// <summary>The stored bytes did not match the id; they were dropped.</summary>
    Corrupt,
}

/// <summary>A chunk read's status and, when found, the chunk's length.</summary>
internal readonly record struct ChunkReadResult(ChunkReadStatus Status, int Length);
