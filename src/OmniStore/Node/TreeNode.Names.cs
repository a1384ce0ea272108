using OmniStore.Node.Internal;
using OmniStore.Node.Upstream;
using OmniStore.Protocol;

namespace OmniStore.Node;

/// <summary>
/// LIST and WAIT (protocol version 7; docs/watch.md): listing the names under a prefix, and waiting
/// for a name to be bound, woken by the bindings this node applies rather than by polling.
/// </summary>
internal sealed partial class TreeNode
{
    private readonly NameWaiters _waiters = new();

    /// <summary>Requests waiting for a name to be bound here now.</summary>
    internal int Waiting => _waiters.Count;

    /// <summary>At the root, the names with an expiry it has yet to unbind (0 at a relay).</summary>
    internal int PendingExpiries => _upstream is StoreUpstream root ? root.PendingExpiries : 0;

    private async Task ServeListAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var asked = ListMessages.DecodeRequest(request.Payload);
        byte[] answer;
        if (asked.Cached || _relay is null)
        {
            answer = await ListLocalAsync(connection, asked, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // The root's listing, passed on without what this child may not read: the entries came in
            // a page of the same bounds, so they fit again.
            var listing = await _relay.ListAsync(asked, request.PayloadMemory, cancellationToken).ConfigureAwait(false);
            var writer = new ListMessages.Writer(asked.Max);
            foreach (var entry in listing.Entries)
            {
                if (MayRead(connection, entry.Name))
                {
                    writer.TryAdd(entry);
                }
            }

            answer = writer.ToArray(listing.Cursor, listing.More);
        }

        await connection.RespondAsync(request.Stream, FrameType.Listing, answer).ConfigureAwait(false);
    }

    /// <summary>A page of the names this node's store binds (at a relay: what it caches), with their sizes.</summary>
    private async Task<byte[]> ListLocalAsync(PeerConnection? connection, ListRequest asked, CancellationToken cancellationToken)
    {
        var (names, more) = _store.ListNames(asked.Prefix, asked.After, asked.Max);
        var writer = new ListMessages.Writer(asked.Max);
        string cursor = asked.After;
        foreach (var name in names)
        {
            if (MayRead(connection, name) && await LocalInfoAsync(name, cancellationToken).ConfigureAwait(false) is { } info && !writer.TryAdd(info))
            {
                more = true; // the page is full of bytes: the next one starts at this name
                break;
            }

            cursor = name;
        }

        return writer.ToArray(cursor, more);
    }

    /// <summary>What this node's store holds of <paramref name="name"/>: null when it is unbound, or (a cache) its manifest is gone.</summary>
    private async Task<ObjectInfo?> LocalInfoAsync(string name, CancellationToken cancellationToken)
    {
        if (await _store.ResolveAsync(name, cancellationToken).ConfigureAwait(false) is not { IsBound: true } binding
            || await _store.ReadManifestAsync(binding.ManifestId, cancellationToken).ConfigureAwait(false) is not { } manifest)
        {
            return null;
        }

        return new ObjectInfo(name, manifest.Length, manifest.Layout.ChunkSize, manifest.Layout.ChunkCount, binding.Version, manifest.Id);
    }

    private static bool MayRead(PeerConnection? connection, string name) => connection?.PeerRights is not { } rights || rights.MayRead(name);

    /// <summary>
    /// WAIT: answered once the name is bound. The wait is registered before the name is looked up,
    /// so a binding applied in between wakes it; while it sleeps it holds no handler slot and this
    /// node sends nothing upstream.
    /// </summary>
    private async Task ServeWaitAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        string name = Names.Decode(request.Payload);
        Authorize(connection, name, write: false);
        BindingMessage binding;
        using (var waiter = _waiters.Register(name))
        {
            try
            {
                binding = await ResolveAsync(name, connection, cancellationToken).ConfigureAwait(false);
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.NotFound)
            {
                binding = await connection.WaitOutsideHandlerSlotAsync(waiter.Bound.WaitAsync(cancellationToken)).ConfigureAwait(false);
            }
        }

        var manifest = await GetManifestAsync(binding.ManifestId, connection, cancellationToken).ConfigureAwait(false);
        var writer = new ListMessages.Writer(1);
        writer.TryAdd(new ObjectInfo(name, manifest.Length, manifest.Layout.ChunkSize, manifest.Layout.ChunkCount, binding.Version, manifest.Id));
        await connection.RespondAsync(request.Stream, FrameType.Listing, writer.ToArray(string.Empty, more: false)).ConfigureAwait(false);
    }

    /// <summary>
    /// A relay's parent link came up (again): a name waited for may have been bound while it was
    /// down, when no UPDATE could reach this relay; each is resolved once more.
    /// </summary>
    private async Task RecheckWaitersAsync()
    {
        foreach (var name in _waiters.Names)
        {
            try
            {
                _waiters.Notify(await _upstream.ResolveAsync(name, child: null, _stopping.Token).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
            {
                // Still unbound, or the link went down again (and the next connection checks again).
            }
        }
    }
}
