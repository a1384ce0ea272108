using System.Runtime.CompilerServices;
using OmniStore.Protocol;

namespace OmniStore.Node.Internal;

/// <summary>
/// A relay's WATCHes to its parent (docs/watch.md, "Relays"): one per distinct prefix its children
/// watch live, started with the first such child and cancelled when the last leaves, each CHANGE
/// fanned out to every child watcher of it. A child that resumes from a sequence the shared one is
/// not at gets a WATCH of its own from there (the relay keeps no history; the root's answers).
/// When the parent link drops, each WATCH resumes from its last sequence on the next connection.
/// </summary>
internal sealed class RelayWatches(ParentLink link, CancellationToken stopping)
{
    private static readonly TimeSpan MinRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(1);

    private readonly ParentLink _link = link;
    private readonly CancellationToken _stopping = stopping;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Subscription> _shared = new(StringComparer.Ordinal);
    private readonly HashSet<Subscription> _all = [];

    /// <summary>WATCHes this relay holds to its parent now.</summary>
    public int Upstream
    {
        get
        {
            lock (_gate)
            {
                return _all.Count;
            }
        }
    }

    /// <summary>Child watchers attached now.</summary>
    public int Watchers
    {
        get
        {
            lock (_gate)
            {
                return _all.Sum(subscription => subscription.Count);
            }
        }
    }

    /// <summary>The changes for a child's watch from <paramref name="from"/>, until cancelled or ended.</summary>
    public async IAsyncEnumerable<ChangeWatcher.Queued> WatchAsync(ChangeWatcher watcher, long from, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var subscription = Attach(watcher, from);
        try
        {
            await foreach (var queued in watcher.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return queued;
            }
        }
        finally
        {
            Detach(subscription, watcher);
        }
    }

    private Subscription Attach(ChangeWatcher watcher, long from)
    {
        lock (_gate)
        {
            if (_shared.TryGetValue(watcher.Prefix, out var shared) && (from == ListMessages.FromNow || from == shared.Position))
            {
                shared.Add(watcher, from);
                return shared;
            }

            var subscription = new Subscription(this, watcher.Prefix, from);
            _shared.TryAdd(watcher.Prefix, subscription);
            _all.Add(subscription);
            subscription.Add(watcher, from);
            subscription.Start();
            return subscription;
        }
    }

    private void Detach(Subscription subscription, ChangeWatcher watcher)
    {
        lock (_gate)
        {
            if (subscription.Remove(watcher) == 0)
            {
                Forget(subscription);
                subscription.Stop();
            }
        }
    }

    private void Forget(Subscription subscription)
    {
        lock (_gate)
        {
            _all.Remove(subscription);
            if (_shared.TryGetValue(subscription.Prefix, out var shared) && shared == subscription)
            {
                _shared.Remove(subscription.Prefix);
            }
        }
    }

    /// <summary>One WATCH to the parent and the child watchers it feeds.</summary>
    private sealed class Subscription(RelayWatches owner, string prefix, long from)
    {
        private readonly Lock _gate = new();
        private readonly List<ChangeWatcher> _watchers = [];
        private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(owner._stopping);

        public string Prefix => prefix;

        /// <summary>The sequence the parent's WATCH has reached (-1 until its first CHANGE).</summary>
        public long Position { get; private set; } = from;

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

        public void Add(ChangeWatcher watcher, long since)
        {
            lock (_gate)
            {
                _watchers.Add(watcher);
                if (since == ListMessages.FromNow && Position >= 0)
                {
                    watcher.Offer(new ChangeMessage(Position, ChangeKind.Position, null));
                }
            }
        }

        /// <summary>Removes a watcher; returns how many are left.</summary>
        public int Remove(ChangeWatcher watcher)
        {
            lock (_gate)
            {
                _watchers.Remove(watcher);
                return _watchers.Count;
            }
        }

        public void Start() => _ = Task.Run(RunAsync);

        public void Stop()
        {
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        private async Task RunAsync()
        {
            var retry = MinRetry;
            var token = _stop.Token;
            try
            {
                while (!token.IsCancellationRequested)
                {
                    var parent = owner._link.Current;
                    if (parent is null)
                    {
                        await Task.Delay(retry, token).ConfigureAwait(false);
                        retry = TimeSpan.FromTicks(Math.Min(MaxRetry.Ticks, retry.Ticks * 2));
                        continue;
                    }

                    if (parent.Version < ProtocolLimits.WatchVersion)
                    {
                        Fail(new OmniStoreException(OmniStoreError.ProtocolError, $"Watching names needs protocol version {ProtocolLimits.WatchVersion}; this relay's parent {owner._link.Address} speaks {parent.Version}."));
                        return;
                    }

                    var asked = new WatchRequest(Position, prefix);
                    var reader = new ListMessages.ChangeReader(asked);
                    try
                    {
                        using var answer = await parent.RequestAsync(FrameType.Watch, ListMessages.EncodeWatch(asked), new InterimAnswers(FrameType.Change, payload => OnChange(reader.Read(payload.Span), payload)), token).ConfigureAwait(false);
                        Fail(new OmniStoreException(OmniStoreError.ProtocolError, $"The parent {owner._link.Address} answered a WATCH with {answer.Type}."));
                        return;
                    }
                    catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Unavailable && !token.IsCancellationRequested)
                    {
                        // The link dropped (or the parent ended the watch): resumed from Position.
                        retry = MinRetry;
                        await Task.Delay(retry, token).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // The last child left, or the relay stops.
            }
            catch (OmniStoreException ex)
            {
                Fail(ex);
            }
            finally
            {
                _stop.Dispose();
            }
        }

        /// <summary>Receive loop: a CHANGE from the parent, checked already, fanned out.</summary>
        private void OnChange(ChangeMessage change, ReadOnlyMemory<byte> payload)
        {
            var bytes = payload.ToArray();
            lock (_gate)
            {
                Position = change.Sequence;
                foreach (var watcher in _watchers)
                {
                    watcher.Offer(change, bytes);
                }
            }
        }

        /// <summary>Ends every child watcher with <paramref name="reason"/>; a child that watches again gets a new WATCH.</summary>
        private void Fail(OmniStoreException reason)
        {
            owner.Forget(this);
            lock (_gate)
            {
                foreach (var watcher in _watchers)
                {
                    watcher.End(reason);
                }
            }
        }
    }
}
