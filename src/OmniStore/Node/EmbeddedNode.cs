using System.Buffers;
using OmniStore.Content;
using OmniStore.Internal;
using OmniStore.Node.Internal;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node;

/// <summary>
/// The embedded default: objects kept in a <see cref="ContentStore"/> in this process, no network.
/// It speaks no protocol, so it has no node identity and writes no <c>node.key</c> (docs/protocol.md, "Node identity").
/// </summary>
internal sealed class EmbeddedNode : IObjectService
{
    // Only this process writes the store (its lock file), so its own Puts are every binding there is.
    private readonly NameWaiters _waiters = new();
    private ChangeFeed? _changes;

    /// <summary>This process unbinds what expires, as the root does (docs/api.md, "Publish").</summary>
    private readonly ExpiryTimer _expiries;

    public EmbeddedNode(ContentStore store)
    {
        Store = store;
        _expiries = new ExpiryTimer(ExpireAsync, TimeProvider.System);
        _expiries.NoteAll(store.ListBindings());
    }

    public ContentStore Store { get; }

    public async ValueTask<ObjectInfo> PutAsync(string name, Stream source, int chunkSize, PutOptions? options, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        var conditions = PutConditions.From(options);
        ArgumentNullException.ThrowIfNull(source);
        var writer = new ObjectWriter(Store, chunkSize);
        var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
        try
        {
            while (true)
            {
                int read = await source.ReadAtLeastAsync(buffer.AsMemory(0, chunkSize), chunkSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (read > 0)
                {
                    writer.Add(buffer.AsSpan(0, read));
                }

                if (read < chunkSize)
                {
                    break;
                }
            }

            return await CommitAsync(name, writer, conditions, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            writer.Dispose();
        }
    }

    public async ValueTask<ObjectInfo> PutAsync(string name, ReadOnlyMemory<byte> data, int chunkSize, PutOptions? options, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        var conditions = PutConditions.From(options);
        using var writer = new ObjectWriter(Store, chunkSize);
        for (int offset = 0; offset < data.Length; offset += chunkSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            writer.Add(data.Span.Slice(offset, Math.Min(chunkSize, data.Length - offset)));
        }

        return await CommitAsync(name, writer, conditions, cancellationToken).ConfigureAwait(false);
    }

    public ObjectInfo Put(string name, ReadOnlySpan<byte> data, int chunkSize, PutOptions? options)
    {
        ObjectName.Validate(name);
        var conditions = PutConditions.From(options);
        using var writer = new ObjectWriter(Store, chunkSize);
        for (int offset = 0; offset < data.Length; offset += chunkSize)
        {
            writer.Add(data.Slice(offset, Math.Min(chunkSize, data.Length - offset)));
        }

        return CommitAsync(name, writer, conditions, CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Binds the name as the root does: the conditions checked with the write, the expiry by this process's clock.</summary>
    private async ValueTask<ObjectInfo> CommitAsync(string name, ObjectWriter writer, PutConditions conditions, CancellationToken cancellationToken)
    {
        var manifest = writer.Complete();
        long now = _expiries.NowUnixMs;
        var (binding, changed, sequence) = await Store.BindAsync(name, manifest.Id, Upstream.StoreUpstream.ToStore(conditions), conditions.TimeToLiveMs != 0 ? now + conditions.TimeToLiveMs : 0, now, cancellationToken).ConfigureAwait(false);
        await Store.MakeDurableAsync(name, binding, manifest, null, sequence, cancellationToken).ConfigureAwait(false);
        if (changed)
        {
            _expiries.Note(name, binding.Version, binding.ExpiresUnixMs);
            _waiters.Notify(new BindingMessage(name, binding.Version, binding.ManifestId, binding.IsBound, binding.ExpiresUnixMs));
            await PublishAsync(sequence).ConfigureAwait(false);
        }

        return ToInfo(name, manifest, binding);
    }

    /// <summary>The timer's work: the name unbound if it is still bound at <paramref name="version"/> and expired.</summary>
    private async Task ExpireAsync(string name, long version, CancellationToken cancellationToken)
    {
        if (await Store.ExpireAsync(name, version, _expiries.NowUnixMs, cancellationToken).ConfigureAwait(false) is var (tombstone, sequence))
        {
            await Store.MakeDurableAsync(name, tombstone, null, null, sequence, cancellationToken).ConfigureAwait(false);
            await PublishAsync(sequence).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One watch of the changes under a prefix (the store's own history, then its own Puts and
    /// Deletes as they are made), until cancelled or ended as too slow.
    /// </summary>
    public IAsyncEnumerable<ChangeMessage> WatchAsync(WatchRequest asked, CancellationToken cancellationToken)
    {
        if (!Store.NumbersChanges)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, "This store keeps no change history: nothing can be watched.");
        }

        return Changes.WatchAsync(new ChangeWatcher(asked.Prefix, asked.From), asked.From, cancellationToken).Select(queued => queued.Change);
    }

    // Made at the first watch or change: a store never watched reads nothing for it.
    private ChangeFeed Changes => LazyInitializer.EnsureInitialized(ref _changes, () => new ChangeFeed(Store));

    private Task PublishAsync(long sequence) => sequence > 0 ? Changes.PublishAsync(sequence) : Task.CompletedTask;

    /// <summary>A page of the names bound under a prefix, with their sizes.</summary>
    public async Task<Listing> ListPageAsync(ListRequest asked, CancellationToken cancellationToken)
    {
        var (names, more) = Store.ListNames(asked.Prefix, asked.After, asked.Max);
        var entries = new List<ObjectInfo>(names.Count);
        foreach (var name in names)
        {
            if (await StatAsync(name, cancellationToken).ConfigureAwait(false) is { } info)
            {
                entries.Add(info); // a name deleted since it was listed is left out
            }
        }

        return new Listing(entries, more ? names[^1] : string.Empty, more);
    }

    /// <summary>Returns once <paramref name="name"/> is bound: at once when it is, else when a Put in this process binds it.</summary>
    public async ValueTask<ObjectInfo> WaitForAsync(string name, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        while (true)
        {
            using (var waiter = _waiters.Register(name))
            {
                if (await StatAsync(name, cancellationToken).ConfigureAwait(false) is { } info)
                {
                    return info;
                }

                await waiter.Bound.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            // Bound now; read again, since the name may have been deleted meanwhile.
        }
    }

    public async ValueTask<long> GetAsync(string name, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var (manifest, _) = await ResolveAsync(name, cancellationToken).ConfigureAwait(false);
        using var pin = Store.Pin(manifest);
        var layout = manifest.Layout;
        if (layout.ChunkCount == 0)
        {
            return 0;
        }

        // Two buffers: the next chunk is read from the store while the previous one is written out.
        var buffers = new[] { ArrayPool<byte>.Shared.Rent(layout.ChunkSize), ArrayPool<byte>.Shared.Rent(layout.ChunkSize) };
        try
        {
            var pending = ReadChunkAsync(name, manifest, 0, buffers[0], cancellationToken);
            for (int i = 0; i < layout.ChunkCount; i++)
            {
                int length = await pending.ConfigureAwait(false);
                if (i + 1 < layout.ChunkCount)
                {
                    pending = ReadChunkAsync(name, manifest, i + 1, buffers[(i + 1) % 2], cancellationToken);
                }

                await destination.WriteAsync(buffers[i % 2].AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            }

            return layout.Length;
        }
        finally
        {
            foreach (var buffer in buffers)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    public async ValueTask<byte[]> GetAsync(string name, CancellationToken cancellationToken)
    {
        var (manifest, _) = await ResolveAsync(name, cancellationToken).ConfigureAwait(false);
        if (manifest.Length > Array.MaxLength)
        {
            throw new OmniStoreException(OmniStoreError.TooSmall, $"'{name}' has {manifest.Length} bytes, more than one array holds; use the Stream overload.");
        }

        using var pin = Store.Pin(manifest);
        var result = GC.AllocateUninitializedArray<byte>((int)manifest.Length);
        var layout = manifest.Layout;
        for (int i = 0; i < layout.ChunkCount; i++)
        {
            await ReadChunkAsync(name, manifest, i, result.AsMemory((int)layout.OffsetOf(i), layout.LengthOf(i)), cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    public unsafe int Get(string name, Span<byte> destination)
    {
        var (manifest, _) = ResolveAsync(name, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        if (manifest.Length > destination.Length)
        {
            throw ThrowHelper.TooSmall(manifest.Length, destination.Length);
        }

        using var pin = Store.Pin(manifest);
        var layout = manifest.Layout;
        fixed (byte* start = destination)
        {
            for (int i = 0; i < layout.ChunkCount; i++)
            {
                using var window = new PointerMemoryManager(start + layout.OffsetOf(i), layout.LengthOf(i));
                var result = Store.ReadChunk(manifest.Chunks[i], window.Memory);
                CheckChunk(name, manifest, i, result);
            }
        }

        return (int)manifest.Length;
    }

    public async ValueTask<OpenedObject> OpenAsync(string name, CancellationToken cancellationToken)
    {
        var (manifest, binding) = await ResolveAsync(name, cancellationToken).ConfigureAwait(false);
        // Pinned while open: a rebinding of the name and a reclamation pass leave these chunks alone.
        return new OpenedObject(ToInfo(name, manifest, binding), manifest, default, Store.Pin(manifest));
    }

    public async ValueTask ReadChunkAsync(OpenedObject opened, int index, Memory<byte> destination, CancellationToken cancellationToken) =>
        _ = await ReadChunkAsync(opened.Name, opened.Manifest, index, destination, cancellationToken).ConfigureAwait(false);

    public async ValueTask<ObjectInfo?> StatAsync(string name, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        var binding = await Store.ResolveAsync(name, cancellationToken).ConfigureAwait(false);
        if (binding is not { } bound || !bound.IsLiveAt(_expiries.NowUnixMs))
        {
            return null;
        }

        var manifest = await Store.ReadManifestAsync(bound.ManifestId, cancellationToken).ConfigureAwait(false)
            ?? throw ThrowHelper.Corrupt($"'{name}' is bound to manifest {bound.ManifestId}, which the store does not hold.");
        return ToInfo(name, manifest, bound);
    }

    /// <summary>The embedded store has nowhere of its own to repair from: a repair names a node (<see cref="VerifyAsync(IProgress{VerifyProgress}?, RemoteObjectService?, CancellationToken)"/>).</summary>
    public Task<VerifyResult> VerifyAsync(bool repair, IProgress<VerifyProgress>? progress, CancellationToken cancellationToken) => repair
        ? throw new OmniStoreException(OmniStoreError.InvalidArgument, "The embedded store repairs from a node that holds verified copies: name it (VerifyOptions.RepairFrom, omnistore verify --from URI).")
        : VerifyAsync(progress, repairFrom: null, cancellationToken);

    /// <summary>
    /// Reads and checks every chunk; each damaged one is then fetched by its id from
    /// <paramref name="repairFrom"/>, if given, and written over the damaged record once it verifies.
    /// What is left damaged stays marked, committed for the next process.
    /// </summary>
    public async Task<VerifyResult> VerifyAsync(IProgress<VerifyProgress>? progress, RemoteObjectService? repairFrom, CancellationToken cancellationToken)
    {
        var report = await Store.VerifyAsync(progress, cancellationToken).ConfigureAwait(false);
        var repaired = new List<ChunkId>();
        var left = new List<ChunkId>();
        foreach (var damaged in report.Damaged)
        {
            bool whole = repairFrom is not null
                && await repairFrom.FetchCopyAsync(damaged.Id, damaged.Length, cancellationToken).ConfigureAwait(false) is { } copy
                && Store.RepairChunk(damaged.Id, copy); // checked against the id again before it is written
            (whole ? repaired : left).Add(damaged.Id);
        }

        if (report.Damaged.Count > 0)
        {
            await Store.CommitAsync(cancellationToken).ConfigureAwait(false); // the damage marks and the repairs, for the next process
        }

        var names = await Store.NamesUsingAsync(left, cancellationToken).ConfigureAwait(false);
        return new VerifyResult(report.Verified, report.Bytes, left, names, repaired);
    }

    public async ValueTask<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        if (await Store.RemoveChangeAsync(name, cancellationToken).ConfigureAwait(false) is not var (tombstone, sequence))
        {
            return false;
        }

        _expiries.Note(name, tombstone.Version, 0);
        await Store.MakeDurableAsync(name, tombstone, null, null, sequence, cancellationToken).ConfigureAwait(false);
        await PublishAsync(sequence).ConfigureAwait(false);
        return true;
    }

    /// <summary>Everything is local: prefetching only checks that the object is there.</summary>
    public async Task PrefetchAsync(string name, CancellationToken cancellationToken) =>
        _ = await ResolveAsync(name, cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        await _expiries.DisposeAsync().ConfigureAwait(false);
        await Store.DisposeAsync().ConfigureAwait(false);
    }

    private async ValueTask<(Manifest Manifest, Binding Binding)> ResolveAsync(string name, CancellationToken cancellationToken)
    {
        ObjectName.Validate(name);
        var binding = await Store.ResolveAsync(name, cancellationToken).ConfigureAwait(false);
        if (binding is not { } bound || !bound.IsLiveAt(_expiries.NowUnixMs))
        {
            throw ThrowHelper.NotFound(name);
        }

        var manifest = await Store.ReadManifestAsync(bound.ManifestId, cancellationToken).ConfigureAwait(false)
            ?? throw ThrowHelper.Corrupt($"'{name}' is bound to manifest {bound.ManifestId}, which the store does not hold.");
        return (manifest, bound);
    }

    private async ValueTask<int> ReadChunkAsync(string name, Manifest manifest, int index, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var result = await Store.ReadChunkAsync(manifest.Chunks[index], destination, cancellationToken).ConfigureAwait(false);
        CheckChunk(name, manifest, index, result);
        return result.Length;
    }

    private static void CheckChunk(string name, Manifest manifest, int index, ChunkReadResult result)
    {
        switch (result.Status)
        {
            case ChunkReadStatus.Missing:
                // The embedded store is pinned: it never evicts what a binding reaches, so a missing
                // chunk of a bound object is damage, not a name that does not exist.
                throw ThrowHelper.Corrupt($"Chunk {index} ({manifest.Chunks[index]}) of '{name}' is missing from the store, which never drops what a bound object uses: the object is damaged.");
            case ChunkReadStatus.Corrupt:
                throw ThrowHelper.Corrupt($"Chunk {index} ({manifest.Chunks[index]}) of '{name}' is damaged on disk (it fails verification); the object is damaged until a Put of the same data replaces the chunk.");
        }

        if (result.Length != manifest.Layout.LengthOf(index))
        {
            throw ThrowHelper.Corrupt($"Chunk {index} of '{name}' has {result.Length} bytes where the manifest says {manifest.Layout.LengthOf(index)}.");
        }
    }

    private ObjectInfo ToInfo(string name, Manifest manifest, Binding binding) =>
        new(name, manifest.Length, manifest.Layout.ChunkSize, manifest.Layout.ChunkCount, binding.Version, manifest.Id)
        {
            Expires = binding.Expires ? DateTimeOffset.FromUnixTimeMilliseconds(binding.ExpiresUnixMs) : null,
            DamagedChunks = Store.DamagedChunks.Count == 0 ? [] : [.. Enumerable.Range(0, manifest.Layout.ChunkCount).Where(i => Store.IsDamaged(manifest.Chunks[i]))],
        };
}
