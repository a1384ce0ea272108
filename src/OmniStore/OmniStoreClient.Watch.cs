using System.Runtime.CompilerServices;
using OmniStore.Protocol;

namespace OmniStore;

/// <summary>Watching the changes under a prefix (docs/watch.md, "Watch").</summary>
public sealed partial class OmniStoreClient
{
    /// <summary>How long a watch tries to resume before it gives up and throws what failed last.</summary>
    internal static readonly TimeSpan WatchResumeLimit = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan MinWatchRetry = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxWatchRetry = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The changes of the names under <paramref name="prefix"/> from now on (every name, for the
    /// empty prefix), in the order the root made them, until <paramref name="cancellationToken"/>
    /// is cancelled. A lost connection is resumed, on the next address if need be, from the last
    /// change yielded: none is lost and none repeated. Nothing polls: the node pushes each change.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/> for a prefix no name could start with; <see cref="OmniStoreError.ProtocolError"/> from a node of a protocol version before 8; <see cref="OmniStoreError.Unavailable"/> when no node could be reached for a minute.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public IAsyncEnumerable<ObjectChange> WatchAsync(string prefix, CancellationToken cancellationToken = default) =>
        WatchAsync(prefix, ListMessages.FromNow, cancellationToken);

    /// <summary>
    /// As <see cref="WatchAsync(string, CancellationToken)"/>, from the change after
    /// <paramref name="afterSequence"/> (an <see cref="ObjectChange.Sequence"/> seen before; 0 for
    /// every change the root still holds). When the root no longer holds the changes after it, the
    /// watch starts with a <see cref="ObjectChangeKind.Reset"/>, then a
    /// <see cref="ObjectChangeKind.Bound"/> change per name bound now, then the changes after those:
    /// the caller learns it was resynchronized, never silently misses a change.
    /// </summary>
    /// <exception cref="OmniStoreException">As <see cref="WatchAsync(string, CancellationToken)"/>; <see cref="OmniStoreError.InvalidArgument"/> for a sequence the root has not reached, or below 0.</exception>
    public async IAsyncEnumerable<ObjectChange> WatchAsync(string prefix, long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ListMessages.ValidatePrefix(prefix);
        if (afterSequence < ListMessages.FromNow)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A watch starts after a sequence of 0 or more, not {afterSequence}.");
        }

        long position = afterSequence;
        var retry = MinWatchRetry;
        long failingSince = 0;
        while (true)
        {
            OmniStoreException lost;
            var changes = _service.WatchAsync(new WatchRequest(position, prefix), cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                while (true)
                {
                    ChangeMessage change;
                    try
                    {
                        if (!await changes.MoveNextAsync().ConfigureAwait(false))
                        {
                            throw new OmniStoreException(OmniStoreError.Unavailable, "The watch ended.");
                        }

                        change = changes.Current;
                    }
                    catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Unavailable && !cancellationToken.IsCancellationRequested)
                    {
                        lost = ex;
                        break;
                    }

                    failingSince = 0;
                    retry = MinWatchRetry;
                    if (change.Kind == ChangeKind.Reset)
                    {
                        yield return new ObjectChange(change.Sequence, ObjectChangeKind.Reset, string.Empty, 0, null);
                        await foreach (var info in ListAsync(prefix, cancellationToken).ConfigureAwait(false))
                        {
                            yield return new ObjectChange(change.Sequence, ObjectChangeKind.Bound, info.Name, info.Version, info);
                        }
                    }
                    else if (change is { Kind: not ChangeKind.Position, Entry: { } entry })
                    {
                        yield return new ObjectChange(change.Sequence, (ObjectChangeKind)change.Kind, entry.Name, entry.Version, change.Kind == ChangeKind.Deleted ? null : entry);
                    }

                    position = change.Sequence;
                }
            }
            finally
            {
                await changes.DisposeAsync().ConfigureAwait(false);
            }

            // Lost: resumed from the last change yielded, at once the first time, then backing off.
            long now = Environment.TickCount64;
            if (failingSince == 0)
            {
                failingSince = now;
            }
            else if (now - failingSince > (long)WatchResumeLimit.TotalMilliseconds)
            {
                throw lost;
            }
            else
            {
                await Task.Delay(retry, cancellationToken).ConfigureAwait(false);
                retry = TimeSpan.FromTicks(Math.Min(MaxWatchRetry.Ticks, retry.Ticks * 2));
            }
        }
    }
}
