using OmniStore.Content;
using OmniStore.Node.Internal;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node.Upstream;

/// <summary>
/// Where a node turns for what its store does not settle: the root's store itself
/// (<see cref="StoreUpstream"/>), or a relay's parent (<see cref="ParentUpstream"/>). The request
/// handlers are the same at every node; they answer from the store what it holds and ask this for
/// the rest (docs/architecture.md, "One upstream, one handler table").
/// </summary>
/// <remarks>
/// <c>child</c> is the connection whose request is being served (null for the node's own calls):
/// a relay bounds what each child can make it ask its parent.
/// </remarks>
internal interface IUpstream
{
    /// <summary>The current binding of <paramref name="name"/> (bound or a tombstone); <see cref="OmniStoreError.NotFound"/> when it was never bound.</summary>
    Task<BindingMessage> ResolveAsync(string name, PeerConnection? child, CancellationToken cancellationToken);

    /// <summary>A manifest the node's store does not have.</summary>
    Task<Manifest> FetchManifestAsync(ManifestId id, PeerConnection? child, CancellationToken cancellationToken);

    /// <summary>
    /// A chunk the node's store did not give (<paramref name="local"/> says why): a share of the
    /// upstream fetch to stream it from, which the caller disposes, or nothing when it is in the store
    /// now (see <see cref="FetchedChunk"/>).
    /// </summary>
    Task<FetchedChunk> FetchChunkAsync(ChunkId id, int length, ChunkReadStatus local, PeerConnection? child, CancellationToken cancellationToken);

    /// <summary>Makes every chunk of <paramref name="manifest"/> local (PREFETCH): nothing to do where the store is the authority.</summary>
    Task WarmAsync(Manifest manifest, PeerConnection child, CancellationToken cancellationToken);

    /// <summary>A chunk uploaded by <paramref name="from"/> (PUT_CHUNK, <paramref name="request"/> as received): done once the root holds it.</summary>
    Task WriteChunkAsync(PeerConnection from, Message request, ChunkId id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>A manifest uploaded by a child (PUT_MANIFEST): done once the root holds it.</summary>
    Task WriteManifestAsync(Message request, Manifest manifest, CancellationToken cancellationToken);

    /// <summary>Binds a name (BIND); done once every relay below the root applied the new binding.</summary>
    Task<BindingMessage> BindAsync(PeerConnection from, Message request, BindMessage bind, CancellationToken cancellationToken);

    /// <summary>A small object put in one request (PUT_OBJECT, checked whole): stored, bound and durable at the root; cached and forwarded by a relay.</summary>
    Task<BindingMessage> PutObjectAsync(PeerConnection from, Message request, PutObjectMessage put, CancellationToken cancellationToken);

    /// <summary>Unbinds a name (DELETE); the tombstone is the answer.</summary>
    Task<BindingMessage> DeleteAsync(Message request, string name, CancellationToken cancellationToken);

    /// <summary>A new binding pushed down by the parent (UPDATE): applied here and below before it is acknowledged.</summary>
    Task ApplyUpdateAsync(BindingMessage binding, CancellationToken cancellationToken);

    /// <summary>A chunk pushed down by the parent (PUSH_CHUNK, a broadcast): kept here and passed down.</summary>
    Task AcceptPushAsync(Message request, ChunkId id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
}

/// <summary>What goes down the tree from a node: the same at the root and at a relay.</summary>
internal interface ITreeDownstream
{
    /// <summary>Pushes <paramref name="binding"/> to every relay below and waits until each subtree applied it (or was cut off).</summary>
    Task PushUpdateAsync(BindingMessage binding);

    /// <summary>
    /// A binding took effect at this node (the root: durable and applied below; a relay: its UPDATE
    /// applied here): wakes the requests waiting for the name (docs/watch.md, "WAIT"); at the root,
    /// publishes the change numbered <paramref name="sequence"/> to the watchers (0: none).
    /// </summary>
    void NoteBindingApplied(BindingMessage binding, long sequence);

    /// <summary>Pushes every chunk of <paramref name="manifest"/> from the store to every relay below.</summary>
    Task BroadcastAsync(Manifest manifest, CancellationToken cancellationToken);

    /// <summary>Passes a pushed chunk (a whole PUSH_CHUNK payload) to every relay below.</summary>
    Task PushChunkAsync(ReadOnlyMemory<byte> chunkMessage, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the relays below for their own verified copy of a chunk (GET_COPY) and writes the first
    /// one over this node's damaged record; false when none has one.
    /// </summary>
    Task<bool> RepairFromBelowAsync(ChunkId id, int length, CancellationToken cancellationToken);
}
