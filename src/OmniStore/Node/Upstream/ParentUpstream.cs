using System.Buffers.Binary;
using System.Collections.Concurrent;
using OmniStore.Internal;
using Microsoft.Extensions.Logging;
using OmniStore.Content;
using OmniStore.Node.Internal;
using OmniStore.Node.Requests;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node.Upstream;

/// <summary>
/// A relay's upstream: its parent, through a <see cref="ParentLink"/>. What it fetches it caches in
/// the relay's store; concurrent misses for one item become one upstream request (shared by every
/// child that asks, under the node's lifetime); each child's requests to the parent are bounded
/// (<see cref="RelayMisses"/>); bindings are cached and distrusted when an update may have been
/// missed. See docs/architecture.md, "The tree".
/// </summary>
internal sealed partial class ParentUpstream : IUpstream
{
    private readonly TreeNodeOptions _options;
    private readonly ContentStore _store;
    private readonly ParentLink _parent;
    private readonly ITreeDownstream _downstream;
    private readonly ILogger _logger;
    private readonly CancellationToken _lifetime;
    private readonly BindingCache _bindingCache;
    private readonly RelayMisses _misses;

    // Chunk fetches running, each read by every request that misses its chunk meanwhile. Keyed by
    // id and asked length: a request with a wrong length fails alone instead of failing every
    // request that joined it.
    private readonly ConcurrentDictionary<(ChunkId Id, int Length), ChunkFetch> _chunkFetches = new();
    private readonly SingleFlight<ManifestId, Manifest> _manifestFetches;
    private readonly SingleFlight<string, BindingMessage> _resolves;
    private long _upstreamChunkFetches;
    private long _joinedChunkFetches;
    private long _corruptChunkFetches;

    public ParentUpstream(TreeNodeOptions options, ContentStore store, ParentLink parent, ITreeDownstream downstream, ILogger logger, CancellationToken lifetime)
    {
        _options = options;
        _store = store;
        _parent = parent;
        _downstream = downstream;
        _logger = logger;
        _lifetime = lifetime;
        _bindingCache = new BindingCache(options.BindingCacheSize);
        _misses = new RelayMisses(options);

        // Upstream fetches are shared by every child that asks: they live as long as the node.
        _manifestFetches = new(lifetime);
        _resolves = new(lifetime);
        WatchParent();
    }

    public ParentLink Link => _parent;

    /// <summary>How many names this relay holds the binding of in memory.</summary>
    public int CachedBindings => _bindingCache.Count;

    /// <summary>Chunks requested from the parent, and requests that joined a fetch already running.</summary>
    public (long Executions, long Joined) ChunkFetches => (Interlocked.Read(ref _upstreamChunkFetches), Interlocked.Read(ref _joinedChunkFetches));

    /// <summary>Chunks the parent sent with bytes that do not match their id (not cached; the children reading them got <see cref="OmniStoreError.Corrupt"/>).</summary>
    public long CorruptChunkFetches => Interlocked.Read(ref _corruptChunkFetches);

    /// <summary>Requests answered NotFound from a remembered miss, and requests refused because their connection caused too many misses.</summary>
    public (long Remembered, long Refused) Misses => (_misses.Remembered, _misses.Refused);

    public async Task<BindingMessage> ResolveAsync(string name, PeerConnection? child, CancellationToken cancellationToken)
    {
        ThrowIfBindingsUnsure(name);
        if (_bindingCache.TryGet(name, out var binding))
        {
            _store.NoteNameUsed(name); // so that the store's copy, the fallback below, stays cached too
            return binding;
        }

        if (_misses.Names.Contains(name))
        {
            _misses.CountRemembered();
            throw ThrowHelper.NotFound(name);
        }

        // Entered before the fallback below: a child over its miss allowance is refused, never
        // served a binding that may be stale.
        using var lease = await _misses.EnterAsync(child, cancellationToken).ConfigureAwait(false);
        try
        {
            return await _resolves.RunAsync(name, (n, shared) => RememberMissAsync(_misses.Names, n, async () =>
            {
                using var response = await _parent.Get().RequestAsync(FrameType.Resolve, Names.Encode(n), shared).ConfigureAwait(false);
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

            // One whose expiry passed (by this relay's clock: the root's UPDATE cannot come) is gone.
            return new BindingMessage(name, k.Version, k.ManifestId, k.IsLiveAt(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), k.ExpiresUnixMs);
        }
    }

    public Task<Manifest> FetchManifestAsync(ManifestId id, PeerConnection? child, CancellationToken cancellationToken)
    {
        if (_misses.Manifests.Contains(id))
        {
            _misses.CountRemembered();
            throw new OmniStoreException(OmniStoreError.NotFound, $"Manifest {id} is not in the tree (the parent said so moments ago).");
        }

        return AskParentForAsync(child, () => _manifestFetches.RunAsync(id, (key, shared) => RememberMissAsync(_misses.Manifests, key, async () =>
        {
            if (await _store.ReadManifestAsync(key, shared).ConfigureAwait(false) is { } cached)
            {
                return cached;
            }

            var request = new byte[ManifestId.Size];
            key.Write(request);
            using var response = await _parent.Get().RequestAsync(FrameType.GetManifest, request, shared).ConfigureAwait(false);
            var fetched = Manifest.Parse(response.Payload, key);
            TryCache(() => _store.WriteManifest(fetched));
            return fetched;
        }), cancellationToken), cancellationToken);
    }

    public Task<FetchedChunk> FetchChunkAsync(ChunkId id, int length, ChunkReadStatus local, PeerConnection? child, CancellationToken cancellationToken)
    {
        // A corrupt copy was dropped by the store: fetched again like a miss.
        if (_misses.Chunks.Contains(id))
        {
            _misses.CountRemembered();
            throw new OmniStoreException(OmniStoreError.NotFound, $"Chunk {id} is not in the tree (the parent said so moments ago).");
        }

        // Within the child's budget until the parent's answer has begun (or failed): what streams
        // after that is bounded by the child's send reservation.
        return AskParentForAsync(child, async () =>
        {
            var reader = JoinChunkFetch(id, length);
            try
            {
                if (await reader.Fetch.Started.WaitAsync(cancellationToken).ConfigureAwait(false) is null)
                {
                    reader.Dispose();
                    return FetchedChunk.AlreadyCached;
                }

                return FetchedChunk.Streaming(reader);
            }
            catch
            {
                reader.Dispose();
                throw;
            }
        }, cancellationToken);
    }

    public async Task WarmAsync(Manifest manifest, PeerConnection child, CancellationToken cancellationToken)
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
                await AskParentForAsync(child, async () =>
                {
                    using var reader = JoinChunkFetch(id, length);
                    return await reader.Fetch.Checked.WaitAsync(cancellationToken).ConfigureAwait(false);
                }, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                window.Release();
            }
        }
    }

    /// <summary>
    /// A share of the fetch of a chunk this node lacks: the one running (every request that misses
    /// the chunk while it runs reads the same buffer), or a new one, started here.
    /// </summary>
    private ChunkFetch.Reader JoinChunkFetch(ChunkId id, int length)
    {
        var key = (id, length);
        while (true)
        {
            if (_chunkFetches.TryGetValue(key, out var running))
            {
                if (running.TryJoin() is { } joined)
                {
                    Interlocked.Increment(ref _joinedChunkFetches);
                    return joined;
                }

                // Failed or ended just now: its entry goes, and a new fetch (or the store) serves this request.
                _chunkFetches.TryRemove(new KeyValuePair<(ChunkId, int), ChunkFetch>(key, running));
                continue;
            }

            var fetch = new ChunkFetch(id, length);
            var reader = fetch.TryJoin()!;
            if (!_chunkFetches.TryAdd(key, fetch))
            {
                reader.Dispose();
                fetch.Release();
                continue;
            }

            _ = RunChunkFetchAsync(fetch);
            return reader;
        }
    }

    /// <summary>
    /// Gets a chunk this node lacks from its parent, under the node's lifetime (the fetch is shared):
    /// its readers stream it as it arrives; once whole it is checked against its id (a mismatch is
    /// counted, logged and never cached), handed to the store, and only then may the readers finish.
    /// </summary>
    private async Task RunChunkFetchAsync(ChunkFetch fetch)
    {
        var key = (fetch.Id, fetch.Length);
        try
        {
            // A fetch that finished between this request's miss and now has already cached the
            // chunk: look again before going upstream, or the burst would cross the link twice.
            if (await _store.ContainsChunkAsync(fetch.Id, _lifetime).ConfigureAwait(false))
            {
                fetch.FoundCached();
                return;
            }

            Interlocked.Increment(ref _upstreamChunkFetches);
            var answer = await RememberMissAsync(_misses.Chunks, fetch.Id, () => AskParentForChunkAsync(fetch.Id, fetch.Length)).ConfigureAwait(false);
            fetch.Start(answer); // the fetch's own share holds the answer's from here on
            await answer.Completion.ConfigureAwait(false);
            var data = answer.Payload.Slice(ChunkMessage.HeaderSize, fetch.Length);
            if (!fetch.Id.Matches(data.Span))
            {
                Interlocked.Increment(ref _corruptChunkFetches);
                NodeLog.CorruptChunkFetched(_logger, fetch.Id.ToString(), _parent.Current?.Describe());
                throw new OmniStoreException(OmniStoreError.Corrupt, $"Chunk {fetch.Id} arrived from this relay's parent with bytes that do not match its id; the relay did not keep them.");
            }

            fetch.Check(await CacheFetchedAsync(fetch, data).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            // A relay that is stopping (its store closing under the fetch, say) is unavailable:
            // its children move on to their next address.
            fetch.Fail(_lifetime.IsCancellationRequested && ex is not OmniStoreException { Error: OmniStoreError.Corrupt }
                ? new OmniStoreException(OmniStoreError.Unavailable, $"This relay stopped while it fetched chunk {fetch.Id}; try again.", ex)
                : ex);
        }
        finally
        {
            _chunkFetches.TryRemove(new KeyValuePair<(ChunkId, int), ChunkFetch>(key, fetch));
            fetch.Release();
        }
    }

    /// <summary>
    /// Asks the parent for a chunk, read as it arrives; returns once the answer has begun with the
    /// chunk's own header (an ERROR before that, NotFound say, is thrown), with the caller's share.
    /// </summary>
    private async Task<StreamingAnswer> AskParentForChunkAsync(ChunkId id, int length)
    {
        var answer = await _parent.Get().RequestStreamingAsync(FrameType.GetChunk, ChunkRequests.Encode(id, length), FrameType.Chunk, ChunkMessage.HeaderSize + length, _lifetime).ConfigureAwait(false);
        try
        {
            await answer.WaitAsync(ChunkMessage.HeaderSize, _lifetime).ConfigureAwait(false);
            var head = answer.Payload.Span[..ChunkMessage.HeaderSize];
            var received = ChunkId.Read(head);
            if (received != id)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"Asked the parent for chunk {id}, got {received}.");
            }

            int announced = BinaryPrimitives.ReadInt32LittleEndian(head[ChunkId.Size..]);
            if (announced != length)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"Asked the parent for the {length} bytes of chunk {id}; its answer announces {announced}.");
            }

            return answer;
        }
        catch (Exception ex)
        {
            answer.Fail(ex);
            answer.Release();
            throw;
        }
    }

    /// <summary>
    /// Caches a checked chunk behind its answers: the store's writer thread writes it from the
    /// fetch's buffer (holding a share of it) while the children get it. When too much waits to be
    /// written already, the fetch waits for room: the disk's pace then holds the fetches back,
    /// rather than memory filling up, and only the writer thread writes fetched chunks (fetches
    /// that wrote themselves spun together in FASTER's wait; docs/storage.md, "Writing behind").
    /// False when the cache did not take it (the store closing: best effort).
    /// </summary>
    private async Task<bool> CacheFetchedAsync(ChunkFetch fetch, ReadOnlyMemory<byte> data)
    {
        var share = fetch.TryJoin()!; // the fetch's own share is held: never null
        bool taken;
        try
        {
            taken = await _store.WriteChunkBehindAsync(fetch.Id, data, share, _lifetime).ConfigureAwait(false);
        }
        catch
        {
            share.Dispose();
            throw;
        }

        if (taken)
        {
            return true;
        }

        share.Dispose();
        return await _store.ContainsChunkAsync(fetch.Id, _lifetime).ConfigureAwait(false); // there already, or not cached
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
            await _store.BindIfNewerAsync(binding.Name, new Binding(binding.ManifestId, binding.Version, binding.IsBound, binding.ExpiresUnixMs), cancellationToken).ConfigureAwait(false);
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.StoreFull)
        {
            // Best effort, like every write to a cache.
        }

        return kept;
    }

    /// <summary>A relay's cache is best effort: when it is full of chunks being read, it serves without caching.</summary>
    private static void TryCache(Action write)
    {
        try
        {
            write();
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.StoreFull)
        {
        }
    }
}
