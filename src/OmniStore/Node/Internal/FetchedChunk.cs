namespace OmniStore.Node.Internal;

/// <summary>
/// What an upstream chunk fetch gives the request that waits on it: a share of the fetch, whose
/// bytes the request streams as they arrive from the parent (docs/architecture.md, "Cut-through on
/// a miss"), or nothing when the chunk is in the store (cached by an earlier fetch, or repaired), to
/// be read there.
/// </summary>
internal sealed class FetchedChunk
{
    private FetchedChunk(ChunkFetch.Reader? reader)
    {
        Reader = reader;
    }

    /// <summary>The chunk is in the store: there is nothing to stream.</summary>
    public static FetchedChunk AlreadyCached { get; } = new(null);

    /// <summary>This request's share of the fetch (the request disposes it); null when the chunk is in the store.</summary>
    public ChunkFetch.Reader? Reader { get; }

    public static FetchedChunk Streaming(ChunkFetch.Reader reader) => new(reader);
}
