using System.Buffers;
using OmniStore.Content;
using OmniStore.Node.Requests;
using OmniStore.Node.Upstream;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node;

/// <summary>What goes down the tree from this node to its relays: binding updates, broadcasts, pushed chunks.</summary>
internal sealed partial class TreeNode : ITreeDownstream
{
    /// <summary>
    /// Pushes a new binding to every relay below and waits until each subtree applied it, so that a
    /// Get anywhere in the tree that starts after the Put returned sees it. A child that cannot apply
    /// it in time is disconnected: on reconnecting it drops its cached bindings. A child that was
    /// late is also refused for a cooldown (<see cref="NoteLateChild"/>), so that it holds up no
    /// other Put meanwhile.
    /// </summary>
    public Task PushUpdateAsync(BindingMessage binding)
    {
        // A child of a version before 8 is sent the binding without its expiry, which it cannot read.
        var payload = binding.Encode();
        var older = binding.Encode(ProtocolLimits.ConditionalPutVersion - 1);
        return ForEachRelayChildAsync(async child =>
        {
            using var timeout = new CancellationTokenSource(ChildUpdateTimeout);
            try
            {
                using var _ = await child.RequestAsync(FrameType.Update, child.Version >= ProtocolLimits.ConditionalPutVersion ? payload : older, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
            {
                NodeLog.UpdateFailed(_logger, child.Describe(), ex.Message);
                if (timeout.IsCancellationRequested)
                {
                    NoteLateChild(child); // before it is dropped, so that it cannot come straight back
                }

                await child.DisposeAsync().ConfigureAwait(false);
            }
        });
    }

    /// <summary>Proactive staging: pushes every chunk of <paramref name="manifest"/> to every relay below, pipelined.</summary>
    public Task BroadcastAsync(Manifest manifest, CancellationToken cancellationToken) =>
        ForEachRelayChildAsync(async child =>
        {
            const int Window = 8;
            using var window = new SemaphoreSlim(Window);
            var pushes = new List<Task>();
            for (int i = 0; i < manifest.Layout.ChunkCount; i++)
            {
                await window.WaitAsync(cancellationToken).ConfigureAwait(false);
                pushes.Add(PushOneAsync(manifest.Chunks[i], manifest.Layout.LengthOf(i)));
            }

            await Task.WhenAll(pushes).ConfigureAwait(false);

            async Task PushOneAsync(ChunkId id, int length)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkMessage.HeaderSize + length);
                try
                {
                    ChunkMessage.Head(id, length).CopyTo(buffer, 0);
                    var result = await _store.ReadChunkAsync(id, buffer.AsMemory(ChunkMessage.HeaderSize, length), cancellationToken).ConfigureAwait(false);
                    if (result.Status != ChunkReadStatus.Found)
                    {
                        throw new OmniStoreException(OmniStoreError.Corrupt, $"Chunk {id} vanished from the root during a broadcast.");
                    }

                    if (result.Length != length)
                    {
                        // The manifest (a client's upload) lies about this chunk's length: sending
                        // `length` bytes would send whatever the rented buffer held before.
                        throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Chunk {id} has {result.Length} bytes; the manifest says {length}.");
                    }

                    await PushChunkAsync(child, buffer.AsMemory(0, ChunkMessage.HeaderSize + length), cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    window.Release();
                }
            }
        });

    public Task PushChunkAsync(ReadOnlyMemory<byte> chunkMessage, CancellationToken cancellationToken) =>
        ForEachRelayChildAsync(child => PushChunkAsync(child, chunkMessage, cancellationToken));

    private static async Task PushChunkAsync(PeerConnection child, ReadOnlyMemory<byte> chunkMessage, CancellationToken cancellationToken)
    {
        using var _ = await child.RequestAsync(FrameType.PushChunk, chunkMessage, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks each relay below in turn for its own copy of a chunk (GET_COPY, at most
    /// <see cref="TreeNodeOptions.UpdateTimeout"/> each) and writes the first verified one over this
    /// node's record; false when no relay has one.
    /// </summary>
    public async Task<bool> RepairFromBelowAsync(ChunkId id, int length, CancellationToken cancellationToken)
    {
        var request = ChunkRequests.Encode(id, length);
        foreach (var child in _children.Keys.Where(c => c.Remote.Role == NodeRole.Relay && c.IsOpen && c.PeerSide == TreeSide.Child).ToList())
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.UpdateTimeout);
            try
            {
                using var response = await child.RequestAsync(FrameType.GetCopy, request, timeout.Token).ConfigureAwait(false);
                var (received, data) = ChunkMessage.Read(response); // verified against its id
                if (received == id && data.Length == length && _store.RepairChunk(id, data.Span))
                {
                    NodeLog.ChunkRepairedFrom(_logger, id.ToString(), child.Describe());
                    return true;
                }
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                NodeLog.CopyNotFrom(_logger, id.ToString(), child.Describe(), ex is OperationCanceledException ? $"no answer within {_options.UpdateTimeout.TotalSeconds} s" : ex.Message);
            }
        }

        return false;
    }

    private Task ForEachRelayChildAsync(Func<PeerConnection, Task> action) =>
        Task.WhenAll(_children.Keys.Where(c => c.Remote.Role == NodeRole.Relay && c.IsOpen).Select(action));
}
