using System.Runtime.CompilerServices;
using OmniStore.Protocol;
using OmniStore.Storage;

namespace OmniStore.Node.Internal;

/// <summary>
/// The root's changes, for its watchers (docs/watch.md, "Watch"): a watch replays the store's
/// history from the sequence it asks for, then gets each change as it is published, in sequence
/// order. Whatever applies a binding publishes its change; nothing polls.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A SemaphoreSlim whose wait handle is never asked for holds nothing to dispose; the feed lives as long as its node.")]
internal sealed class ChangeFeed(ContentStore store)
{
    private const int Page = 256;
    private readonly Lock _gate = new();
    private readonly List<ChangeWatcher> _watchers = [];
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private long _published = store.LastSequence;

    /// <summary>Watchers attached now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _watchers.Count;
            }
        }
    }

    /// <summary>
    /// The change numbered <paramref name="sequence"/> took effect (durable, and applied below):
    /// it, and any numbered before it not yet published, go to every watcher, in order. A change
    /// numbered before it and not yet durable goes with it (a crash may lose that one, but never
    /// reuses its number, since a later one is durable).
    /// </summary>
    public async Task PublishAsync(long sequence)
    {
        if (sequence <= 0)
        {
            return;
        }

        await _publishing.WaitAsync().ConfigureAwait(false);
        try
        {
            long at = Volatile.Read(ref _published);
            while (at < sequence)
            {
                var changes = store.ReadChanges(at, sequence, Page);
                var messages = new List<ChangeMessage>(changes.Count);
                foreach (var change in changes)
                {
                    messages.Add(await ToMessageAsync(change).ConfigureAwait(false));
                }

                long upTo = changes.Count == Page ? changes[^1].Sequence : sequence;
                lock (_gate)
                {
                    foreach (var message in messages)
                    {
                        var payload = ListMessages.EncodeChange(message);
                        foreach (var watcher in _watchers)
                        {
                            watcher.Offer(message, payload);
                        }
                    }

                    Volatile.Write(ref _published, upTo);
                }

                at = upTo;
            }
        }
        catch (ObjectDisposedException)
        {
            // The store is closing: nobody is left to tell.
        }
        finally
        {
            _publishing.Release();
        }
    }

    /// <summary>
    /// A watch from <paramref name="from"/> (<see cref="ListMessages.FromNow"/>, or a sequence):
    /// the history after it (or a RESET when the history no longer holds it), a POSITION once
    /// caught up, then the live changes, until cancelled or the watcher is ended.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> for a sequence this root has not reached.</exception>
    public async IAsyncEnumerable<ChangeWatcher.Queued> WatchAsync(ChangeWatcher watcher, long from, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long replayTo;
        lock (_gate)
        {
            _watchers.Add(watcher);
            replayTo = Volatile.Read(ref _published);
        }

        try
        {
            if (from > replayTo)
            {
                throw new OmniStoreException(OmniStoreError.InvalidArgument, $"No change {from} yet: the root's last change is {replayTo}.");
            }

            if (from != ListMessages.FromNow && from < store.OldestSequence - 1)
            {
                yield return Queue(new ChangeMessage(replayTo, ChangeKind.Reset, null));
            }
            else if (from != ListMessages.FromNow)
            {
                for (long at = from; at < replayTo;)
                {
                    var changes = store.ReadChanges(at, replayTo, Page);
                    foreach (var change in changes)
                    {
                        if (change.Name.StartsWith(watcher.Prefix, StringComparison.Ordinal))
                        {
                            yield return Queue(await ToMessageAsync(change).ConfigureAwait(false));
                        }
                    }

                    at = changes.Count == Page ? changes[^1].Sequence : replayTo;
                }
            }

            yield return Queue(new ChangeMessage(replayTo, ChangeKind.Position, null));
            await foreach (var queued in watcher.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return queued;
            }
        }
        finally
        {
            lock (_gate)
            {
                _watchers.Remove(watcher);
            }
        }
    }

    private static ChangeWatcher.Queued Queue(ChangeMessage change) => new(change, ListMessages.EncodeChange(change));

    private async Task<ChangeMessage> ToMessageAsync(StoredChange change)
    {
        if (change.Kind == ObjectChangeKind.Deleted)
        {
            return ChangeMessage.Deleted(change.Sequence, change.Name, change.Binding.Version);
        }

        var manifest = await store.ReadManifestAsync(change.Binding.ManifestId).ConfigureAwait(false);
        var info = manifest is null
            ? new ObjectInfo(change.Name, 0, 0, 0, change.Binding.Version, change.Binding.ManifestId)
            : new ObjectInfo(change.Name, manifest.Length, manifest.Layout.ChunkSize, manifest.Layout.ChunkCount, change.Binding.Version, manifest.Id);
        return new ChangeMessage(change.Sequence, (ChangeKind)change.Kind, info);
    }
}
