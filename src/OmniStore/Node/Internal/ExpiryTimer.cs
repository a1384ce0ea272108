namespace OmniStore.Node.Internal;

/// <summary>
/// The bindings with an expiry that a store holding the names (the root, the embedded store) must
/// unbind when it passes (docs/api.md, "Publish"): one timer, set for the next expiry, whatever the
/// count. When it fires, the due names are expired one after another, at most
/// <see cref="MaxPerRound"/> a round (the rest in the next, at once), so expiry work never runs
/// twice at once. Memory: one entry per name with an expiry (a rebinding replaces its name's entry).
/// </summary>
/// <param name="expire">Unbinds a name if it is still bound at the version given (the store checks, under the name's lock).</param>
/// <param name="time">The clock (the root's).</param>
internal sealed class ExpiryTimer(Func<string, long, CancellationToken, Task> expire, TimeProvider time) : IAsyncDisposable
{
    /// <summary>The most names expired in one round.</summary>
    public const int MaxPerRound = 256;

    /// <summary>The longest the timer is set for: a later expiry is looked at again then (timers take at most about 49 days).</summary>
    private static readonly TimeSpan MaxDelay = TimeSpan.FromHours(12);

    private readonly Lock _gate = new();
    private readonly SortedSet<(long Due, string Name)> _due = new();
    private readonly Dictionary<string, (long Due, long Version)> _byName = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private ITimer? _timer;
    private Task _round = Task.CompletedTask;
    private bool _running;
    private bool _disposed;

    /// <summary>Names with an expiry not passed yet, or not yet unbound.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _byName.Count;
            }
        }
    }

    /// <summary>The current time, in milliseconds since the Unix epoch.</summary>
    public long NowUnixMs => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Notes the binding just written for <paramref name="name"/>: with an expiry, it is expired
    /// then (replacing what was noted for the name); without one (or a tombstone), the name is
    /// forgotten. A binding older than the one noted for the name changes nothing (two binds may note
    /// out of order; an entry left behind is harmless: the store expires only the version noted).
    /// </summary>
    public void Note(string name, long version, long expiresUnixMs)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            if (_byName.TryGetValue(name, out var old))
            {
                if (old.Version > version)
                {
                    return; // a later binding of the name was noted first
                }

                _byName.Remove(name);
                _due.Remove((old.Due, name));
            }

            if (expiresUnixMs != 0)
            {
                _byName[name] = (expiresUnixMs, version);
                _due.Add((expiresUnixMs, name));
            }

            ArmLocked();
        }
    }

    /// <summary>Notes every binding with an expiry of a store just opened (one that passed meanwhile is expired at once).</summary>
    public void NoteAll(IEnumerable<(string Name, Storage.Binding Binding)> bindings)
    {
        foreach (var (name, binding) in bindings)
        {
            if (binding is { IsBound: true, Expires: true })
            {
                Note(name, binding.Version, binding.ExpiresUnixMs);
            }
        }
    }

    /// <summary>Sets the one timer for the earliest expiry, unless a round is running (it sets it when done).</summary>
    private void ArmLocked()
    {
        if (_running || _disposed)
        {
            return;
        }

        if (_due.Count == 0)
        {
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        var delay = TimeSpan.FromMilliseconds(Math.Clamp(_due.Min.Due - NowUnixMs, 0, (long)MaxDelay.TotalMilliseconds));
        _timer ??= time.CreateTimer(_ => Fire(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    private void Fire()
    {
        lock (_gate)
        {
            if (_running || _disposed)
            {
                return;
            }

            _running = true;
            _round = Task.Run(RunRoundAsync);
        }
    }

    private async Task RunRoundAsync()
    {
        var due = new List<(string Name, long Version)>();
        lock (_gate)
        {
            long now = NowUnixMs;
            while (_due.Count > 0 && _due.Min.Due <= now && due.Count < MaxPerRound)
            {
                var (_, name) = _due.Min;
                _due.Remove(_due.Min);
                _byName.Remove(name, out var entry);
                due.Add((name, entry.Version));
            }
        }

        try
        {
            foreach (var (name, version) in due)
            {
                try
                {
                    await expire(name, version, _stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException or ObjectDisposedException)
                {
                    // Stopping, or the store failed: the binding stays until the next start (which
                    // expires it at once), and the name reads as unbound meanwhile.
                }
            }
        }
        finally
        {
            // Whatever happened to this round, the next one is set.
            lock (_gate)
            {
                _running = false;
                ArmLocked();
            }
        }
    }

    /// <summary>Stops the timer and waits for a round that is running.</summary>
    public async ValueTask DisposeAsync()
    {
        Task round;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            round = _round;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        await round.ConfigureAwait(false);
        _stopping.Dispose();
    }
}
