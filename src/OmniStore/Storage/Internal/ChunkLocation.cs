namespace OmniStore.Storage.Internal;

/// <summary>Where a chunk's record is in the chunk log, and its length.</summary>
internal readonly record struct ChunkLocation(long Address, int Length);
