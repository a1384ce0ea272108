using OmniStore.Content;

namespace OmniStore;

/// <summary>How far a verification has got: chunks read, their bytes, and how many of them were damaged.</summary>
/// <param name="Chunks">Chunks read so far.</param>
/// <param name="Bytes">Their bytes.</param>
/// <param name="Damaged">How many of them failed verification.</param>
public readonly record struct VerifyProgress(long Chunks, long Bytes, long Damaged);

/// <summary>
/// What a verification of a store found (<see cref="OmniStoreClient.VerifyAsync"/>, <c>omnistore verify</c>):
/// every chunk was read and checked against its id.
/// </summary>
/// <param name="VerifiedChunks">Chunks whose bytes match their id.</param>
/// <param name="Bytes">The bytes of every chunk read, damaged ones included.</param>
/// <param name="DamagedChunks">Chunks that failed verification and were not repaired: a pinned store keeps them marked damaged (every read says <see cref="OmniStoreError.Corrupt"/>), a cache dropped them.</param>
/// <param name="DamagedObjects">The bound names whose objects use a damaged chunk, in order.</param>
/// <param name="RepairedChunks">Chunks that failed verification and were replaced by a verified copy.</param>
public sealed record VerifyResult(long VerifiedChunks, long Bytes, IReadOnlyList<ChunkId> DamagedChunks, IReadOnlyList<string> DamagedObjects, IReadOnlyList<ChunkId> RepairedChunks)
{
    /// <summary>Whether the store is whole: nothing damaged is left.</summary>
    public bool IsWhole => DamagedChunks.Count == 0;
}
