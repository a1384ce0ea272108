using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using OmniStore.Content;
using OmniStore.Internal;
using OmniStore.Node.Internal;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node.Upstream;

/// <summary>
/// The root's upstream: its own store, which is the authority. What the store lacks does not
/// exist; a write is done once it is stored, a rebinding once it is committed and every relay below
/// applied it.
/// </summary>
internal sealed class StoreUpstream : IUpstream, IAsyncDisposable
{
    private readonly ContentStore _store;
    private readonly ITreeDownstream _downstream;
    private readonly ILogger _logger;
    private readonly SingleFlight<(ChunkId Id, int Length), bool> _repairs;

    /// <summary>The root unbinds what expires, as a DELETE would (docs/api.md, "Publish").</summary>
    private readonly ExpiryTimer _expiries;

    /// <summary>
    /// Chunks uploaded on a connection stay pinned until a binding references them or the
    /// connection closes, so a reclamation pass at a full root cannot drop them in between.
    /// </summary>
    private readonly ConcurrentDictionary<PeerConnection, ConcurrentDictionary<ChunkId, ContentPin>> _uploads = new();

    public StoreUpstream(ContentStore store, ITreeDownstream downstream, ILogger logger, CancellationToken lifetime)
    {
        _repairs = new(lifetime);
        _store = store;
        _downstream = downstream;
        _logger = logger;
        _expiries = new ExpiryTimer(ExpireAsync, TimeProvider.System);
        _expiries.NoteAll(store.ListBindings());
    }

    /// <summary>Names with an expiry the root has yet to unbind.</summary>
    public int PendingExpiries => _expiries.Count;

    public async Task<BindingMessage> ResolveAsync(string name, PeerConnection? child, CancellationToken cancellationToken)
    {
        var stored = await _store.ResolveAsync(name, cancellationToken).ConfigureAwait(false);

        // Past its expiry a binding reads as unbound, even in the moment before the timer unbinds it.
        return stored is { } b ? new BindingMessage(name, b.Version, b.ManifestId, b.IsLiveAt(_expiries.NowUnixMs), b.ExpiresUnixMs) : default;
    }

    public Task<Manifest> FetchManifestAsync(ManifestId id, PeerConnection? child, CancellationToken cancellationToken) =>
        throw new OmniStoreException(OmniStoreError.NotFound, $"Manifest {id} is not in the store.");

    /// <summary>
    /// A chunk the root's store did not give: missing, it does not exist; damaged, the root asks its
    /// relays for a verified copy and repairs its own (one repair however many requests find the
    /// damage), and the request reads the store again.
    /// </summary>
    public async Task<FetchedChunk> FetchChunkAsync(ChunkId id, int length, ChunkReadStatus local, PeerConnection? child, CancellationToken cancellationToken)
    {
        if (local != ChunkReadStatus.Corrupt)
        {
            throw new OmniStoreException(OmniStoreError.NotFound, $"Chunk {id} is not in the store.");
        }

        if (!await _repairs.RunAsync((id, length), (asked, shared) => _downstream.RepairFromBelowAsync(asked.Id, asked.Length, shared), out _, cancellationToken).ConfigureAwait(false))
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Chunk {id} is damaged in the root's store, and no relay below holds a verified copy: the objects that use it are damaged until one does (a relay that caches it, or a Put of the same data).");
        }

        return FetchedChunk.AlreadyCached;
    }

    public Task WarmAsync(Manifest manifest, PeerConnection child, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task WriteChunkAsync(PeerConnection from, Message request, ChunkId id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        PinUpload(from, id);
        try
        {
            _store.WriteChunk(id, data.Span);
        }
        catch
        {
            ReleaseUploads(from, [id]); // an upload pin means "stored": see BindAsync
            throw;
        }

        return Task.CompletedTask;
    }

    public Task WriteManifestAsync(Message request, Manifest manifest, CancellationToken cancellationToken)
    {
        _store.WriteManifest(manifest);
        return Task.CompletedTask;
    }

    public async Task<BindingMessage> BindAsync(PeerConnection from, Message request, BindMessage bind, CancellationToken cancellationToken)
    {
        var manifest = await _store.ReadManifestAsync(bind.ManifestId, cancellationToken).ConfigureAwait(false)
            ?? throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Cannot bind '{bind.Name}': manifest {bind.ManifestId} was not uploaded.");
        using (_store.Pin(manifest))
        {
            // Chunks uploaded on this connection are stored and pinned; only the others are
            // looked up, since a lookup of a chunk no longer in memory reads it whole from disk.
            _uploads.TryGetValue(from, out var uploaded);
            foreach (var id in manifest.Chunks.Distinct())
            {
                if (uploaded?.ContainsKey(id) != true && !await _store.ContainsChunkAsync(id, cancellationToken).ConfigureAwait(false))
                {
                    throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Cannot bind '{bind.Name}': chunk {id} was not uploaded.");
                }
            }

            var binding = await BindDurablyAsync(bind.Name, manifest, bind.Broadcast, bind.Conditions, chunk: null, cancellationToken).ConfigureAwait(false);
            ReleaseUploads(from, manifest.Chunks);
            return binding;
        }
    }

    public async Task<BindingMessage> PutObjectAsync(PeerConnection from, Message request, PutObjectMessage put, CancellationToken cancellationToken)
    {
        // Pinned before the chunks are written, as an upload pins them: a pass keeps them until bound.
        using (_store.Pin(put.Manifest))
        {
            for (int i = 0; i < put.Manifest.Chunks.Count; i++)
            {
                _store.WriteChunk(put.Manifest.Chunks[i], put.Chunk(i).Span);
            }

            _store.WriteManifest(put.Manifest);
            return await BindDurablyAsync(put.Name, put.Manifest, put.Broadcast, put.Conditions, put.Chunk, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Binds a name to a stored (and pinned) manifest if <paramref name="conditions"/> hold, makes it
    /// durable, and tells the tree. A binding <see cref="PutConditions.IfChanged"/> kept is answered
    /// as it is, once durable, and nothing is pushed down.
    /// </summary>
    private async Task<BindingMessage> BindDurablyAsync(string name, Manifest manifest, bool broadcast, PutConditions conditions, Func<int, ReadOnlyMemory<byte>>? chunk, CancellationToken cancellationToken)
    {
        long now = _expiries.NowUnixMs;
        var (stored, changed, sequence) = await _store.BindAsync(name, manifest.Id, ToStore(conditions), conditions.TimeToLiveMs != 0 ? now + conditions.TimeToLiveMs : 0, now, cancellationToken).ConfigureAwait(false);
        await _store.MakeDurableAsync(name, stored, manifest, chunk, sequence, cancellationToken).ConfigureAwait(false);
        var binding = new BindingMessage(name, stored.Version, stored.ManifestId, stored.IsBound, stored.ExpiresUnixMs);
        if (!changed)
        {
            return binding;
        }

        _expiries.Note(name, stored.Version, stored.ExpiresUnixMs);
        NodeLog.Bound(_logger, name, stored.Version);
        await _downstream.PushUpdateAsync(binding).ConfigureAwait(false);
        _downstream.NoteBindingApplied(binding, sequence);
        if (broadcast)
        {
            await _downstream.BroadcastAsync(manifest, cancellationToken).ConfigureAwait(false);
        }

        return binding;
    }

    /// <summary>The conditions the store checks with the write (the time to live is the root's to turn into an expiry).</summary>
    internal static BindConditions ToStore(PutConditions conditions) => new(conditions.IfVersion, conditions.IfNotExists, conditions.IfChanged);

    public async Task<BindingMessage> DeleteAsync(Message request, string name, CancellationToken cancellationToken)
    {
        if (await _store.RemoveChangeAsync(name, cancellationToken).ConfigureAwait(false) is not var (tombstone, sequence))
        {
            throw ThrowHelper.NotFound(name);
        }

        _expiries.Note(name, tombstone.Version, 0);
        return await UnboundDurablyAsync(name, tombstone, sequence).ConfigureAwait(false);
    }

    /// <summary>The timer's work: <paramref name="name"/> unbound if it is still bound at <paramref name="version"/> and expired, as a DELETE would.</summary>
    private async Task ExpireAsync(string name, long version, CancellationToken cancellationToken)
    {
        if (await _store.ExpireAsync(name, version, _expiries.NowUnixMs, cancellationToken).ConfigureAwait(false) is var (tombstone, sequence))
        {
            NodeLog.Expired(_logger, name, version);
            await UnboundDurablyAsync(name, tombstone, sequence).ConfigureAwait(false);
        }
    }

    /// <summary>Makes a tombstone durable and tells the tree (and the watchers of its change, numbered <paramref name="sequence"/>).</summary>
    private async Task<BindingMessage> UnboundDurablyAsync(string name, Binding tombstone, long sequence)
    {
        await _store.MakeDurableAsync(name, tombstone, null, null, sequence, CancellationToken.None).ConfigureAwait(false);
        var binding = new BindingMessage(name, tombstone.Version, tombstone.ManifestId, tombstone.IsBound);
        await _downstream.PushUpdateAsync(binding).ConfigureAwait(false);
        _downstream.NoteBindingApplied(binding, sequence);
        return binding;
    }

    /// <summary>Stops the expiry timer (the node stops).</summary>
    public ValueTask DisposeAsync() => _expiries.DisposeAsync();

    // The root has no parent: the request table lets only a parent send these, and the handshake
    // gives the root none.
    public Task ApplyUpdateAsync(BindingMessage binding, CancellationToken cancellationToken) => throw NoParent("UPDATE");

    public Task AcceptPushAsync(Message request, ChunkId id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => throw NoParent("PUSH_CHUNK");

    private static OmniStoreException NoParent(string type) =>
        new(OmniStoreError.ProtocolError, $"The root has no parent: nobody may send it {type}.");

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
