using System.Threading.Channels;
using OmniStore.Protocol;

namespace OmniStore.Node.Internal;

/// <summary>
/// One WATCH being served (or an embedded store's watch): the changes offered to it that match its
/// prefix, queued in order for whoever sends them on (docs/watch.md, "Bounds"). Offering never
/// waits: a watcher that falls <see cref="ListMessages.MaxQueuedChanges"/> changes behind is ended
/// with <see cref="OmniStoreError.Unavailable"/>, telling where to resume, instead of buffering more.
/// </summary>
internal sealed class ChangeWatcher
{
    /// <summary>After this many changes that do not match in a row, the watcher is told the sequence reached (a POSITION).</summary>
    internal const int PositionEvery = 1024;

    private readonly Channel<Queued> _queue = Channel.CreateBounded<Queued>(new BoundedChannelOptions(ListMessages.MaxQueuedChanges)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the writer never waits
    });

    private readonly Lock _gate = new();
    private long _lastQueued = long.MinValue;
    private long _lastSent;
    private int _skipped;
    private bool _ended;

    public ChangeWatcher(string prefix, long from)
    {
        Prefix = prefix;
        _lastSent = from;
    }

    /// <summary>The prefix watched.</summary>
    public string Prefix { get; }

    /// <summary>The sequence of the last change sent on (set by the sender): where a watcher ended as too slow resumes.</summary>
    public long LastSent
    {
        get => Interlocked.Read(ref _lastSent);
        set => Interlocked.Exchange(ref _lastSent, value);
    }

    /// <summary>The changes queued, in order; completes with the reason the watcher was ended.</summary>
    public ChannelReader<Queued> Reader => _queue.Reader;

    /// <summary>
    /// Offers a change (or a position, or a reset) in sequence order; <paramref name="payload"/> is
    /// its CHANGE encoded, when the caller has it. One already queued (by sequence) is ignored.
    /// </summary>
    public void Offer(ChangeMessage change, byte[]? payload = null)
    {
        lock (_gate)
        {
            if (_ended || (change.Kind != ChangeKind.Reset && change.Sequence <= _lastQueued))
            {
                return;
            }

            if (change.Entry is { } entry && !entry.Name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                if (++_skipped < PositionEvery)
                {
                    return;
                }

                change = new ChangeMessage(change.Sequence, ChangeKind.Position, null);
                payload = null;
            }

            _skipped = 0;
            if (!_queue.Writer.TryWrite(new Queued(change, payload ?? ListMessages.EncodeChange(change))))
            {
                EndLocked(new OmniStoreException(OmniStoreError.Unavailable, $"This watcher fell {ListMessages.MaxQueuedChanges} changes behind; resume from sequence {LastSent}."));
                return;
            }

            _lastQueued = change.Sequence;
        }
    }

    /// <summary>Ends the watcher: its reader gets <paramref name="reason"/> once it has read what was queued.</summary>
    public void End(OmniStoreException reason)
    {
        lock (_gate)
        {
            EndLocked(reason);
        }
    }

    private void EndLocked(OmniStoreException reason)
    {
        if (!_ended)
        {
            _ended = true;
            _queue.Writer.TryComplete(reason);
        }
    }

    /// <summary>A queued change and its CHANGE payload.</summary>
    internal readonly record struct Queued(ChangeMessage Change, byte[] Payload);
}
