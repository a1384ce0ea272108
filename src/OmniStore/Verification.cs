using OmniStore.Content;

namespace OmniStore;

/// <summary>How far a verification has got: chunks read, their bytes, and how many of them were damaged.</summary>
/// <param name="Chunks">Chunks read so far.</param>
/// <param name="Bytes">Their bytes.</param>
/// <param name="Damaged">How many of them failed verification.</param>
public readonly record struct VerifyProgress(long Chunks, long Bytes, long Damaged);

/// <summary>How a verification is carried out (<see cref="OmniStoreClient.VerifyAsync(VerifyOptions?, IProgress{VerifyProgress}?, CancellationToken)"/>).</summary>
public sealed record VerifyOptions
{
    /// <summary>
    /// Repair what is damaged, where a verified copy exists: a node's root (a pinned store) asks its
    /// relays for their copies, a relay drops its damaged copy and fetches a verified one from its
    /// parent, and the embedded store fetches from <see cref="RepairFrom"/>. Every copy is checked
    /// against its id before it is written. Without it a verification only reports (and marks the
    /// damage, so that every read of a damaged chunk says <see cref="OmniStoreError.Corrupt"/>).
    /// Defaults to false.
    /// </summary>
    public bool Repair { get; init; }

    /// <summary>
    /// For the embedded store with <see cref="Repair"/>: the node to fetch verified copies of the
    /// damaged chunks from, by chunk id (an address as <see cref="OmniStoreClient.ConnectAsync(string, OmniStoreOptions?, CancellationToken)"/>
    /// takes, dialed with the client's <see cref="OmniStoreOptions.SharedSecret"/>). Required for a
    /// repair of the embedded store; not allowed for a client of a node, which repairs from its own
    /// tree. Defaults to null.
    /// </summary>
    public string? RepairFrom { get; init; }
}

/// <summary>
/// What a verification of a store found (<see cref="OmniStoreClient.VerifyAsync(VerifyOptions?, IProgress{VerifyProgress}?, CancellationToken)"/>, <c>omnistore verify</c>):
/// every chunk was read and checked against its id.
/// </summary>
/// <param name="VerifiedChunks">Chunks whose bytes match their id.</param>
/// <param name="Bytes">The bytes of every chunk read, damaged ones included.</param>
/// <param name="DamagedChunks">Chunks that failed verification and were not repaired: a pinned store keeps them marked damaged (every read says <see cref="OmniStoreError.Corrupt"/>), a cache dropped them. From a node, at most <see cref="MaxListed"/> of them (<see cref="DamagedChunkCount"/> counts all).</param>
/// <param name="DamagedObjects">The bound names whose objects use a damaged chunk, in order. From a node, at most <see cref="MaxListed"/> (<see cref="DamagedObjectCount"/> counts all).</param>
/// <param name="RepairedChunks">Chunks that failed verification and were replaced by a verified copy. From a node, at most <see cref="MaxListed"/> (<see cref="RepairedChunkCount"/> counts all).</param>
public sealed record VerifyResult(long VerifiedChunks, long Bytes, IReadOnlyList<ChunkId> DamagedChunks, IReadOnlyList<string> DamagedObjects, IReadOnlyList<ChunkId> RepairedChunks)
{
    /// <summary>The most entries of each list a node sends back; the counts say how many there are in all.</summary>
    public const int MaxListed = 10_000;

    /// <summary>How many chunks are left damaged, listed in <see cref="DamagedChunks"/> or not. Defaults to the list's length.</summary>
    public long DamagedChunkCount { get; init; } = DamagedChunks.Count;

    /// <summary>How many bound names use a damaged chunk, listed in <see cref="DamagedObjects"/> or not. Defaults to the list's length.</summary>
    public long DamagedObjectCount { get; init; } = DamagedObjects.Count;

    /// <summary>How many chunks were repaired, listed in <see cref="RepairedChunks"/> or not. Defaults to the list's length.</summary>
    public long RepairedChunkCount { get; init; } = RepairedChunks.Count;

    /// <summary>Whether the store is whole: nothing damaged is left.</summary>
    public bool IsWhole => DamagedChunkCount == 0;
}
