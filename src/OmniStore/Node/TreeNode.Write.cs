using System.Buffers;
using System.Collections.Concurrent;
using OmniStore.Content;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node;

internal sealed partial class TreeNode
{
    /// <summary>
    /// Chunks uploaded on a connection stay pinned until a binding references them or the
    /// connection closes, so a reclamation pass at a full root cannot drop them in between.
    /// </summary>
    private readonly ConcurrentDictionary<PeerConnection, ConcurrentDictionary<ChunkId, ContentPin>> _uploads = new();

    private async Task AcceptChunkAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var (id, data) = ChunkMessage.Read(request);
        if (IsRoot)
        {
            PinUpload(connection, id);
            try
            {
                _store.WriteChunk(id, data.Span);
            }
            catch
            {
                ReleaseUploads(connection, [id]); // an upload pin means "stored": see ServeBindAsync
                throw;
            }
        }
        else
        {
            TryCache(() => _store.WriteChunk(id, data.Span));
            if (request.Type == FrameType.PutChunk)
            {
                // Write-through: the child's chunk is acknowledged once the root has it.
                using var _ = await _parent!.Get().RequestAsync(FrameType.PutChunk, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await ForEachRelayChildAsync(child => PushChunkAsync(child, request.PayloadMemory, cancellationToken)).ConfigureAwait(false);
            }

            // Now that the root has it, a miss of it remembered here (or being answered) is wrong.
            _misses.Chunks.Forget(id);
        }

        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    private async Task AcceptManifestAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var manifest = Manifest.Parse(request.Payload);
        if (IsRoot)
        {
            _store.WriteManifest(manifest);
        }
        else
        {
            TryCache(() => _store.WriteManifest(manifest));
            using var _ = await _parent!.Get().RequestAsync(FrameType.PutManifest, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
            _misses.Manifests.Forget(manifest.Id);
        }

        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    private async Task ServeBindAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var bind = BindMessage.Decode(request.Payload);
        BindingMessage binding;
        if (!IsRoot)
        {
            using var response = await _parent!.Get().RequestAsync(FrameType.Bind, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
            binding = await CacheBindingAsync(BindingMessage.Decode(response.Payload), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var manifest = await _store.ReadManifestAsync(bind.ManifestId, cancellationToken).ConfigureAwait(false)
                ?? throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Cannot bind '{bind.Name}': manifest {bind.ManifestId} was not uploaded.");
            using (_store.Pin(manifest))
            {
                // Chunks uploaded on this connection are stored and pinned; only the others are
                // looked up, since a lookup of a chunk no longer in memory reads it whole from disk.
                _uploads.TryGetValue(connection, out var uploaded);
                foreach (var id in manifest.Chunks.Distinct())
                {
                    if (uploaded?.ContainsKey(id) != true && !await _store.ContainsChunkAsync(id, cancellationToken).ConfigureAwait(false))
                    {
                        throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Cannot bind '{bind.Name}': chunk {id} was not uploaded.");
                    }
                }

                var stored = await _store.BindAsync(bind.Name, bind.ManifestId, cancellationToken).ConfigureAwait(false);
                await _store.CommitAsync(cancellationToken).ConfigureAwait(false);
                ReleaseUploads(connection, manifest.Chunks);
                binding = new BindingMessage(bind.Name, stored.Version, stored.ManifestId, stored.IsBound);
                NodeLog.Bound(_logger, bind.Name, stored.Version);
                await PushUpdateAsync(binding).ConfigureAwait(false);
                if (bind.Broadcast)
                {
                    await BroadcastAsync(manifest, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        await connection.RespondAsync(request.Stream, FrameType.Binding, binding.Encode()).ConfigureAwait(false);
    }

    private async Task ServeDeleteAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        string name = Names.Decode(request.Payload);
        BindingMessage binding;
        if (!IsRoot)
        {
            using var response = await _parent!.Get().RequestAsync(FrameType.Delete, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
            binding = await CacheBindingAsync(BindingMessage.Decode(response.Payload), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            if (!await _store.UnbindAsync(name, cancellationToken).ConfigureAwait(false))
            {
                throw new OmniStoreException(OmniStoreError.NotFound, $"No object is bound to the name '{name}'.");
            }

            await _store.CommitAsync(cancellationToken).ConfigureAwait(false);
            var tombstone = (await _store.ResolveAsync(name, cancellationToken).ConfigureAwait(false))!.Value;
            binding = new BindingMessage(name, tombstone.Version, tombstone.ManifestId, tombstone.IsBound);
            await PushUpdateAsync(binding).ConfigureAwait(false);
        }

        await connection.RespondAsync(request.Stream, FrameType.Binding, binding.Encode()).ConfigureAwait(false);
    }

    /// <summary>A binding pushed down by the parent: cached here, then pushed further down before the ack.</summary>
    private async Task ApplyUpdateAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        if (IsRoot || connection != _parent?.Current)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, "Only a parent may push binding updates.");
        }

        // A binding changed: what this relay remembers as missing may be part of it. Forgotten
        // before the update is acknowledged, so a Get that starts after the Put returned asks again.
        _misses.ForgetAll();
        var binding = await CacheBindingAsync(BindingMessage.Decode(request.Payload), cancellationToken).ConfigureAwait(false);
        await PushUpdateAsync(binding).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    /// <summary>
    /// Pushes a new binding to every relay below and waits until each subtree applied it, so that a
    /// Get anywhere in the tree that starts after the Put returned sees it. A child that cannot apply
    /// it in time is disconnected: on reconnecting it drops its cached bindings. A child that was
    /// late is also refused for a cooldown (<see cref="NoteLateChild"/>), so that it holds up no
    /// other Put meanwhile.
    /// </summary>
    private Task PushUpdateAsync(BindingMessage binding)
    {
        var payload = binding.Encode();
        return ForEachRelayChildAsync(async child =>
        {
            using var timeout = new CancellationTokenSource(ChildUpdateTimeout);
            try
            {
                using var _ = await child.RequestAsync(FrameType.Update, payload, timeout.Token).ConfigureAwait(false);
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
    private Task BroadcastAsync(Manifest manifest, CancellationToken cancellationToken) =>
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

    private static async Task PushChunkAsync(PeerConnection child, ReadOnlyMemory<byte> chunkMessage, CancellationToken cancellationToken)
    {
        using var _ = await child.RequestAsync(FrameType.PushChunk, chunkMessage, cancellationToken).ConfigureAwait(false);
    }

    private Task ForEachRelayChildAsync(Func<PeerConnection, Task> action) =>
        Task.WhenAll(_children.Keys.Where(c => c.Remote.Role == NodeRole.Relay && c.IsOpen).Select(action));

    private void PinUpload(PeerConnection connection, ChunkId id)
    {
        var pins = _uploads.GetOrAdd(connection, c =>
        {
            _ = c.Completion.ContinueWith(_ => ReleaseUploads(c, null), TaskScheduler.Default);
            return new ConcurrentDictionary<ChunkId, ContentPin>();
        });
        pins.GetOrAdd(id, key => _store.Pin([key]));
    }

    private void ReleaseUploads(PeerConnection connection, IEnumerable<ChunkId>? chunks)
    {
        if (!_uploads.TryGetValue(connection, out var pins))
        {
            return;
        }

        foreach (var id in chunks ?? pins.Keys.ToList())
        {
            if (pins.TryRemove(id, out var pin))
            {
                pin.Dispose();
            }
        }

        if (chunks is null)
        {
            _uploads.TryRemove(connection, out _);
        }
    }
}
