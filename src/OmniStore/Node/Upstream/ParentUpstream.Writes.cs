using OmniStore.Content;
using OmniStore.Protocol;

namespace OmniStore.Node.Upstream;

/// <summary>
/// Writes through a relay: cached here (best effort), forwarded, and acknowledged once the parent
/// has them; and what the parent pushes down (UPDATE, PUSH_CHUNK), applied here and passed on.
/// </summary>
internal sealed partial class ParentUpstream
{
    public async Task WriteChunkAsync(PeerConnection from, Message request, ChunkId id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        TryCache(() => _store.WriteChunk(id, data.Span));

        // Write-through: the child's chunk is acknowledged once the root has it.
        using var _ = await _parent.Get().RequestAsync(FrameType.PutChunk, request.PayloadMemory, cancellationToken).ConfigureAwait(false);

        // Now that the root has it, a miss of it remembered here (or being answered) is wrong.
        _misses.Chunks.Forget(id);
    }

    public async Task WriteManifestAsync(Message request, Manifest manifest, CancellationToken cancellationToken)
    {
        TryCache(() => _store.WriteManifest(manifest));
        using var _ = await _parent.Get().RequestAsync(FrameType.PutManifest, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
        _misses.Manifests.Forget(manifest.Id);
    }

    public async Task<BindingMessage> BindAsync(PeerConnection from, Message request, BindMessage bind, CancellationToken cancellationToken)
    {
        // Conditions are the root's to check, with the bind: forwarded as they came, never to a
        // parent that would refuse them as malformed (or, older still, ignore them).
        var parent = _parent.Get();
        bind.Conditions.RequireVersion(parent.Version, $"this relay's parent {_parent.Address}");
        using var response = await parent.RequestAsync(FrameType.Bind, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
        return await CacheBindingAsync(BindingMessage.Decode(response.Payload), cancellationToken).ConfigureAwait(false);
    }

    public async Task<BindingMessage> PutObjectAsync(PeerConnection from, Message request, PutObjectMessage put, CancellationToken cancellationToken)
    {
        TryCache(() =>
        {
            for (int i = 0; i < put.Manifest.Chunks.Count; i++)
            {
                _store.WriteChunk(put.Manifest.Chunks[i], put.Chunk(i).Span);
            }

            _store.WriteManifest(put.Manifest);
        });

        var parent = _parent.Get();
        put.Conditions.RequireVersion(parent.Version, $"this relay's parent {_parent.Address}");
        Message response;
        if (parent.Version >= ProtocolLimits.PutObjectVersion)
        {
            response = await parent.RequestAsync(FrameType.PutObject, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // A parent of an older version: the object as the three requests it knows.
            for (int i = 0; i < put.Manifest.Chunks.Count; i++)
            {
                var chunk = put.Chunk(i);
                (await parent.RequestAsync(FrameType.PutChunk, ChunkMessage.Head(put.Manifest.Chunks[i], chunk.Length), chunk, cancellationToken).ConfigureAwait(false)).Dispose();
            }

            (await parent.RequestAsync(FrameType.PutManifest, put.Manifest.ToBytes(), cancellationToken).ConfigureAwait(false)).Dispose();
            response = await parent.RequestAsync(FrameType.Bind, new BindMessage(put.Name, put.Manifest.Id, put.Broadcast).Encode(), cancellationToken).ConfigureAwait(false);
        }

        using (response)
        {
            foreach (var id in put.Manifest.Chunks)
            {
                _misses.Chunks.Forget(id);
            }

            _misses.Manifests.Forget(put.Manifest.Id);
            return await CacheBindingAsync(BindingMessage.Decode(response.Payload), cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<BindingMessage> DeleteAsync(Message request, string name, CancellationToken cancellationToken)
    {
        using var response = await _parent.Get().RequestAsync(FrameType.Delete, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
        return await CacheBindingAsync(BindingMessage.Decode(response.Payload), cancellationToken).ConfigureAwait(false);
    }

    public async Task ApplyUpdateAsync(BindingMessage binding, CancellationToken cancellationToken)
    {
        // A binding changed: what this relay remembers as missing may be part of it. Forgotten
        // before the update is acknowledged, so a Get that starts after the Put returned asks again.
        _misses.ForgetAll();
        var kept = await CacheBindingAsync(binding, cancellationToken).ConfigureAwait(false);

        // Waiters here read from this relay, which has the binding now: they need not wait for the
        // subtree below.
        _downstream.NoteBindingApplied(kept, sequence: 0);
        await _downstream.PushUpdateAsync(kept).ConfigureAwait(false);
    }

    /// <summary>A page of the root's listing (LIST forwarded as it came), checked as every answer is.</summary>
    public async Task<Listing> ListAsync(ListRequest asked, ReadOnlyMemory<byte> request, CancellationToken cancellationToken)
    {
        var parent = _parent.Get();
        if (parent.Version < ProtocolLimits.ListingVersion)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"Listing names needs protocol version {ProtocolLimits.ListingVersion}; this relay's parent {_parent.Address} speaks {parent.Version}.");
        }

        using var response = await parent.RequestAsync(FrameType.List, request, cancellationToken).ConfigureAwait(false);
        return ListMessages.DecodeListing(response.Payload, asked);
    }

    public async Task AcceptPushAsync(Message request, ChunkId id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        TryCache(() => _store.WriteChunk(id, data.Span));
        await _downstream.PushChunkAsync(request.PayloadMemory, cancellationToken).ConfigureAwait(false);
        _misses.Chunks.Forget(id);
    }
}
