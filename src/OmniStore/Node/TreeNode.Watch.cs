using System.Runtime.CompilerServices;
using OmniStore.Node.Internal;
using OmniStore.Protocol;

namespace OmniStore.Node;

/// <summary>
/// WATCH (protocol version 8; docs/watch.md, "Watch"): the changes under a prefix, sent as CHANGEs
/// on the request's stream until the watcher cancels. The root replays its history and publishes
/// each change it applies; a relay shares one WATCH to its parent per prefix among its children.
/// </summary>
internal sealed partial class TreeNode
{
    // The WATCHes each child connection has open here (at most ListMessages.MaxWatchesPerConnection).
    private readonly ConditionalWeakTable<PeerConnection, StrongBox<int>> _watchesPerConnection = [];
    private ChangeFeed? _changes;
    private RelayWatches? _relayWatches;

    /// <summary>Watches served here now (a relay's children's, or the root's, relays' WATCHes included).</summary>
    internal int Watchers => _changes?.Count ?? _relayWatches?.Watchers ?? 0;

    /// <summary>WATCHes this relay holds to its parent now (0 at the root).</summary>
    internal int UpstreamWatches => _relayWatches?.Upstream ?? 0;

    private void CreateWatches()
    {
        if (_relay is { } relay)
        {
            _relayWatches = new RelayWatches(relay.Link, _stopping.Token);
        }
        else
        {
            _changes = new ChangeFeed(_store);
        }
    }

    /// <inheritdoc/>
    public void NoteBindingApplied(BindingMessage binding, long sequence)
    {
        if (binding.IsBound)
        {
            _transfers.Named(binding.Name, binding.ManifestId);
        }

        _waiters.Notify(binding);
        if (_changes is { } changes && sequence > 0)
        {
            _ = changes.PublishAsync(sequence);
        }
    }

    private async Task ServeWatchAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        var asked = ListMessages.DecodeWatch(request.Payload);
        var open = _watchesPerConnection.GetOrCreateValue(connection);
        if (Interlocked.Increment(ref open.Value) > ListMessages.MaxWatchesPerConnection)
        {
            Interlocked.Decrement(ref open.Value);
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A connection may watch at most {ListMessages.MaxWatchesPerConnection} prefixes at once.");
        }

        try
        {
            var watcher = new ChangeWatcher(asked.Prefix, asked.From);
            var changes = _changes is { } feed
                ? feed.WatchAsync(watcher, asked.From, cancellationToken)
                : _relayWatches!.WatchAsync(watcher, asked.From, cancellationToken);

            // A watch lasts as long as its watcher wants: it holds no handler slot (as a WAIT).
            await connection.WaitOutsideHandlerSlotAsync(SendChangesAsync(connection, request.Stream, watcher, changes)).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref open.Value);
        }
    }

    /// <summary>Sends each change as a CHANGE on the WATCH's stream; a name the child may not read is left out.</summary>
    private static async Task<bool> SendChangesAsync(PeerConnection connection, uint stream, ChangeWatcher watcher, IAsyncEnumerable<ChangeWatcher.Queued> changes)
    {
        await foreach (var queued in changes.ConfigureAwait(false))
        {
            if (queued.Change.Entry is not { } entry || MayRead(connection, entry.Name))
            {
                await connection.RespondAsync(stream, FrameType.Change, queued.Payload).ConfigureAwait(false);
            }

            watcher.LastSent = queued.Change.Sequence;
        }

        return true;
    }
}
