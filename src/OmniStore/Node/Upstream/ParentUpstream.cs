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

    // Keyed by id and asked length: a request with a wrong length fails alone instead of failing
    // every request that joined it.
    private readonly SingleFlight<(ChunkId Id, int Length), FetchedChunk> _chunkFetches;
    private readonly SingleFlight<ManifestId, Manifest> _manifestFetches;
    private readonly SingleFlight<string, BindingMessage> _resolves;
    private long _upstreamChunkFetches;

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
        _chunkFetches = new(lifetime, unclaimed: static fetched => fetched.TakeMessage()?.Dispose());
        _manifestFetches = new(lifetime);
        _resolves = new(lifetime);
        WatchParent();
    }

    public ParentLink Link => _parent;

    /// <summary>How many names this relay holds the binding of in memory.</summary>
    public int CachedBindings => _bindingCache.Count;

    /// <summary>Chunks requested from the parent, and requests that joined a fetch already running.</summary>
    public (long Executions, long Joined) ChunkFetches => (Interlocked.Read(ref _upstreamChunkFetches), _chunkFetches.Joined);

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
            throw new OmniStoreException(OmniStoreError.NotFound, $"No object is bound to the name '{name}'.");
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

            return new BindingMessage(name, k.Version, k.ManifestId, k.IsBound);
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

    public Task<(FetchedChunk Fetched, bool Started)> FetchChunkAsync(ChunkId id, int length, ChunkReadStatus local, PeerConnection? child, CancellationToken cancellationToken)
    {
        // A corrupt copy was dropped by the store: fetched again like a miss.
        if (_misses.Chunks.Contains(id))
        {
            _misses.CountRemembered();
            throw new OmniStoreException(OmniStoreError.NotFound, $"Chunk {id} is not in the tree (the parent said so moments ago).");
        }

        return AskParentForAsync(child, async () => (await FetchChunkAsync(id, length, out bool started, cancellationToken).ConfigureAwait(false), started), cancellationToken);
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
                var (fetched, started) = await AskParentForAsync(child, async () => (await FetchChunkAsync(id, length, out bool s, cancellationToken).ConfigureAwait(false), s), cancellationToken).ConfigureAwait(false);
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
            var response = await _parent.Get().RequestAsync(FrameType.GetChunk, ChunkRequests.Encode(key, length), shared).ConfigureAwait(false);
            bool handedOver = false;
            try
            {
                var (received, data) = ChunkMessage.Read(response);
                if (received != key)
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, $"Asked the parent for chunk {key}, got {received}.");
                }

                ChunkRequests.CheckLength(key, length, data.Length);

                // Cached behind the answer: the store's writer thread writes the chunk while the
                // children get it, from the same received bytes (one share each). When too much
                // waits to be written already, this fetch waits for room: the disk's pace then
                // holds the fetches back, rather than memory filling up.
                var shares = new SharedOwner(response, owners: 2);
                handedOver = true;
                bool taken;
                try
                {
                    taken = await _store.WriteChunkBehindAsync(key, data, shares, shared).ConfigureAwait(false);
                }
                catch
                {
                    shares.Dispose(); // the store's share
                    shares.Dispose(); // and the answer's: nobody answers from it
                    throw;
                }

                if (!taken)
                {
                    shares.Dispose(); // the store's share, not taken (stored already, or closing)
                }

                return FetchedChunk.Cached(shares, data);
            }
            finally
            {
                if (!handedOver)
                {
                    response.Dispose();
                }
            }
        }), out started, cancellationToken);

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
