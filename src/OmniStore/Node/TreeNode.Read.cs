using System.Buffers;
using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Node.Internal;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node;

internal sealed partial class TreeNode
{
    private async Task ServeResolveAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var binding = await ResolveAsync(Names.Decode(request.Payload), connection, cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Binding, binding.Encode()).ConfigureAwait(false);
    }

    /// <summary>The current binding of a bound name; <see cref="OmniStoreError.NotFound"/> otherwise.</summary>
    internal Task<BindingMessage> ResolveAsync(string name, CancellationToken cancellationToken) => ResolveAsync(name, child: null, cancellationToken);

    /// <summary>As <see cref="ResolveAsync(string, CancellationToken)"/>, for a request of <paramref name="child"/> (whose upstream budget applies).</summary>
    internal async Task<BindingMessage> ResolveAsync(string name, PeerConnection? child, CancellationToken cancellationToken)
    {
        ThrowIfBindingsUnsure(name); // a relay that may have missed an update (never the root)
        BindingMessage binding;
        if (IsRoot)
        {
            var stored = await _store.ResolveAsync(name, cancellationToken).ConfigureAwait(false);
            binding = stored is { } b ? new BindingMessage(name, b.Version, b.ManifestId, b.IsBound) : default;
        }
        else if (_bindingCache.TryGet(name, out binding))
        {
            _store.NoteNameUsed(name); // so that the store's copy, the fallback below, stays cached too
        }
        else
        {
            if (_misses.Names.Contains(name))
            {
                _misses.CountRemembered();
                throw new OmniStoreException(OmniStoreError.NotFound, $"No object is bound to the name '{name}'.");
            }

            // Entered before the fallback below: a child over its miss allowance is refused, never
            // served a binding that may be stale.
            using var lease = await _misses.EnterAsync(child, cancellationToken).ConfigureAwait(false);
            try
            {
                binding = await _resolves.RunAsync(name, (n, shared) => RememberMissAsync(_misses.Names, n, async () =>
                {
                    using var response = await _parent!.Get().RequestAsync(FrameType.Resolve, Names.Encode(n), shared).ConfigureAwait(false);
                    return await CacheBindingAsync(BindingMessage.Decode(response.Payload), shared).ConfigureAwait(false);
                }), cancellationToken).ConfigureAwait(false);
            }
            catch (OmniStoreException ex) when (IsUpstreamMiss(ex))
            {
                lease.Miss();
                throw;
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Unavailable)
            {
                // The parent cannot be asked: the binding this relay last learned (kept in its
                // store, so it survives a restart) is the best it can serve from its cache, unless
                // the parent was lost in a way that says this relay may have missed an update.
                ThrowIfBindingsUnsure(name);
                var known = await _store.ResolveAsync(name, cancellationToken).ConfigureAwait(false);
                if (known is not { } k)
                {
                    throw;
                }

                binding = new BindingMessage(name, k.Version, k.ManifestId, k.IsBound);
            }
        }

        if (!binding.IsBound)
        {
            throw new OmniStoreException(OmniStoreError.NotFound, $"No object is bound to the name '{name}'.");
        }

        return binding;
    }

    /// <summary>
    /// Keeps the newest of what is cached and <paramref name="binding"/>; returns the one kept. A
    /// relay also writes it to its store: while its parent is connected it always asks again after
    /// an outage (the in-memory cache is cleared), but when the parent cannot be reached, even after
    /// a restart, the last binding it learned is what lets it serve its cached objects.
    /// </summary>
    private async ValueTask<BindingMessage> CacheBindingAsync(BindingMessage binding, CancellationToken cancellationToken)
    {
        // An UPDATE that overtook this answer is kept (newest version wins): the cache drops only
        // names not used since its previous sweep, and an UPDATE counts as a use.
        var kept = _bindingCache.KeepNewest(binding);
        try
        {
            await _store.BindIfNewerAsync(binding.Name, new Binding(binding.ManifestId, binding.Version, binding.IsBound), cancellationToken).ConfigureAwait(false);
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.StoreFull)
        {
            // Best effort, like every write to a cache.
        }

        return kept;
    }

    private async Task ServeManifestAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        if (request.Length != ManifestId.Size)
        {
            throw HelloMessage.Malformed("GET_MANIFEST carries a 16-byte id");
        }

        var manifest = await GetManifestAsync(ManifestId.Read(request.Payload), connection, cancellationToken).ConfigureAwait(false);
        await connection.RespondAsync(request.Stream, FrameType.Manifest, manifest.ToBytes()).ConfigureAwait(false);
    }

    internal Task<Manifest> GetManifestAsync(ManifestId id, CancellationToken cancellationToken) => GetManifestAsync(id, child: null, cancellationToken);

    /// <summary>A manifest from the store or, at a relay, from the parent, for a request of <paramref name="child"/> (whose upstream budget applies).</summary>
    internal async Task<Manifest> GetManifestAsync(ManifestId id, PeerConnection? child, CancellationToken cancellationToken)
    {
        var manifest = await _store.ReadManifestAsync(id, cancellationToken).ConfigureAwait(false);
        if (manifest is not null)
        {
            return manifest;
        }

        if (IsRoot)
        {
            throw new OmniStoreException(OmniStoreError.NotFound, $"Manifest {id} is not in the store.");
        }

        if (_misses.Manifests.Contains(id))
        {
            _misses.CountRemembered();
            throw new OmniStoreException(OmniStoreError.NotFound, $"Manifest {id} is not in the tree (the parent said so moments ago).");
        }

        return await AskParentForAsync(child, () => _manifestFetches.RunAsync(id, (key, shared) => RememberMissAsync(_misses.Manifests, key, async () =>
        {
            if (await _store.ReadManifestAsync(key, shared).ConfigureAwait(false) is { } cached)
            {
                return cached;
            }

            var request = new byte[ManifestId.Size];
            key.Write(request);
            using var response = await _parent!.Get().RequestAsync(FrameType.GetManifest, request, shared).ConfigureAwait(false);
            var fetched = Manifest.Parse(response.Payload, key);
            TryCache(() => _store.WriteManifest(fetched));
            return fetched;
        }), cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    private async Task ServeChunkAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var (id, length) = ReadChunkRequest(request.Payload);

        // The asked length is the peer's word: the buffer is reserved against this connection's
        // send limit, so a peer that asks for large chunks and reads nothing waits for its own
        // answers instead of holding a buffer per request.
        using var reservation = await connection.ReserveSendAsync(length, cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        Interlocked.Add(ref _answerBufferBytes, buffer.Length);
        try
        {
            for (int attempt = 0; ; attempt++)
            {
                var result = await _store.ReadChunkAsync(id, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                if (result.Status == ChunkReadStatus.Found)
                {
                    // Only the bytes the store wrote go out: the rest of a rented buffer is someone
                    // else's old data.
                    CheckRequestedLength(id, length, result.Length);
                    await connection.RespondAsync(request.Stream, FrameType.Chunk, ChunkMessage.Head(id, result.Length), buffer.AsMemory(0, result.Length)).ConfigureAwait(false);
                    return;
                }

                if (IsRoot)
                {
                    throw result.Status == ChunkReadStatus.Corrupt
                        ? new OmniStoreException(OmniStoreError.Corrupt, $"Chunk {id} is corrupt in the root's store; it was dropped.")
                        : new OmniStoreException(OmniStoreError.NotFound, $"Chunk {id} is not in the store.");
                }

                if (_misses.Chunks.Contains(id))
                {
                    _misses.CountRemembered();
                    throw new OmniStoreException(OmniStoreError.NotFound, $"Chunk {id} is not in the tree (the parent said so moments ago).");
                }

                // One upstream fetch for every request that missed. The request that started it
                // answers from the received bytes; the others read the cache like a hit (or, when
                // the cache could not take the chunk, answer from the copy the fetch kept).
                var (fetched, started) = await AskParentForAsync(connection, async () => (await FetchChunkAsync(id, length, out bool s, cancellationToken).ConfigureAwait(false), s), cancellationToken).ConfigureAwait(false);
                if (started && fetched.TakeMessage() is { } received)
                {
                    using (received)
                    {
                        await connection.RespondAsync(request.Stream, FrameType.Chunk, ChunkMessage.Head(id, fetched.Data.Length), fetched.Data).ConfigureAwait(false);
                    }

                    return;
                }

                if (fetched.Uncached is { } uncached)
                {
                    CheckRequestedLength(id, length, uncached.Length);
                    await connection.RespondAsync(request.Stream, FrameType.Chunk, ChunkMessage.Head(id, uncached.Length), uncached).ConfigureAwait(false);
                    return;
                }

                if (attempt == 2)
                {
                    throw new OmniStoreException(OmniStoreError.Unavailable, $"Chunk {id} keeps being evicted from this relay's cache before it can be served; the cache is too small for the load.");
                }
            }
        }
        finally
        {
            Interlocked.Add(ref _answerBufferBytes, -buffer.Length);
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Gets a chunk this node lacks from its parent: one upstream request however many children
    /// ask at once; verified (by <see cref="ChunkMessage.Read"/>) before it is cached. See
    /// <see cref="FetchedChunk"/> for what the waiting requests get.
    /// </summary>
    private Task<FetchedChunk> FetchChunkAsync(ChunkId id, int length, out bool started, CancellationToken cancellationToken) =>
        _chunkFetches.RunAsync((id, length), (asked, shared) => RememberMissAsync(_misses.Chunks, asked.Id, async () =>
        {
            var key = asked.Id;
            // A fetch that finished between this request's miss and now has already cached the
            // chunk: look again before going upstream, or the burst would cross the link twice.
            if (await _store.ContainsChunkAsync(key, shared).ConfigureAwait(false))
            {
                return FetchedChunk.AlreadyCached;
            }

            Interlocked.Increment(ref _upstreamChunkFetches);
            var response = await _parent!.Get().RequestAsync(FrameType.GetChunk, EncodeChunkRequest(key, length), shared).ConfigureAwait(false);
            bool handedOver = false;
            try
            {
                var (received, data) = ChunkMessage.Read(response);
                if (received != key)
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, $"Asked the parent for chunk {key}, got {received}.");
                }

                CheckRequestedLength(key, length, data.Length);

                try
                {
                    _store.WriteChunk(key, data.Span);
                }
                catch (OmniStoreException ex) when (ex.Error == OmniStoreError.StoreFull)
                {
                    return FetchedChunk.NotCached(data.ToArray());
                }

                handedOver = true;
                return FetchedChunk.Cached(response, data);
            }
            finally
            {
                if (!handedOver)
                {
                    response.Dispose();
                }
            }
        }), out started, cancellationToken);

    private async Task ServePrefetchAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var binding = await ResolveAsync(Names.Decode(request.Payload), connection, cancellationToken).ConfigureAwait(false);
        var manifest = await GetManifestAsync(binding.ManifestId, connection, cancellationToken).ConfigureAwait(false);
        if (!IsRoot)
        {
            using var window = new SemaphoreSlim(_options.PrefetchWindow);
            var fetches = new List<Task>();
            for (int i = 0; i < manifest.Layout.ChunkCount; i++)
            {
                var id = manifest.Chunks[i];
                int length = manifest.Layout.LengthOf(i);
                if (await _store.ContainsChunkAsync(id, cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }

                await window.WaitAsync(cancellationToken).ConfigureAwait(false);
                fetches.Add(FetchAndRelease(id, length));
            }

            await Task.WhenAll(fetches).ConfigureAwait(false);

            async Task FetchAndRelease(ChunkId id, int length)
            {
                try
                {
                    var (fetched, started) = await AskParentForAsync(connection, async () => (await FetchChunkAsync(id, length, out bool s, cancellationToken).ConfigureAwait(false), s), cancellationToken).ConfigureAwait(false);
                    if (started)
                    {
                        fetched.TakeMessage()?.Dispose();
                    }
                }
                finally
                {
                    window.Release();
                }
            }
        }

        await connection.RespondAsync(request.Stream, FrameType.Ok, default).ConfigureAwait(false);
    }

    internal static byte[] EncodeChunkRequest(ChunkId id, int length)
    {
        var payload = new byte[ChunkId.Size + 4];
        id.Write(payload);
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(ChunkId.Size), length);
        return payload;
    }

    internal static (ChunkId Id, int Length) ReadChunkRequest(ReadOnlySpan<byte> payload)
    {
        if (payload.Length != ChunkId.Size + 4)
        {
            throw HelloMessage.Malformed("GET_CHUNK carries a 16-byte id and a length");
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(payload[ChunkId.Size..]);
        if (length is < 0 or > ChunkLayout.MaxChunkSize)
        {
            throw HelloMessage.Malformed($"chunk length {length} is out of range");
        }

        return (ChunkId.Read(payload), length);
    }

    /// <summary>
    /// A chunk request names the chunk's length (so that the answer's buffer is sized once); a
    /// request whose length is not the stored chunk's is refused, never answered with more or fewer
    /// bytes than the chunk has.
    /// </summary>
    private static void CheckRequestedLength(ChunkId id, int requested, int actual)
    {
        if (requested != actual)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Chunk {id} has {actual} bytes; the request asked for {requested}.");
        }
    }

    /// <summary>A relay's cache is best effort: when it is full of chunks being read, it serves without caching.</summary>
    private void TryCache(Action write)
    {
        try
        {
            write();
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.StoreFull && !IsRoot)
        {
        }
    }
}
