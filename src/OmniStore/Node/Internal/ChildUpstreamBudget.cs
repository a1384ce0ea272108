using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace OmniStore.Node.Internal;

/// <summary>
/// What the requests of one child connection may make a relay ask its parent: at most
/// <c>maxInFlight</c> upstream requests at once (more wait for a turn), and misses (requests the
/// parent answered with an error) at <c>missRate</c> per second on average with bursts of
/// <c>missBurst</c>, a token bucket. A child over its miss allowance gets
/// <see cref="OmniStoreError.Unavailable"/> at once for anything that needs the parent; what it
/// asks of the relay's cache and what other children ask are not affected.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "The semaphore never creates a wait handle; leases may release it after the child is gone, so it is never disposed.")]
internal sealed class ChildUpstreamBudget
{
    private readonly SemaphoreSlim _inFlight;
    private readonly Lock _lock = new();
    private readonly double _missRate;
    private readonly int _missBurst;
    private readonly TimeProvider _time;
    private double _tokens;
    private long _refilledAt;

    public ChildUpstreamBudget(int maxInFlight, double missRate, int missBurst, TimeProvider? time = null)
    {
        _inFlight = new SemaphoreSlim(maxInFlight, maxInFlight);
        _missRate = missRate;
        _missBurst = missBurst;
        _time = time ?? TimeProvider.System;
        _tokens = missBurst;
        _refilledAt = _time.GetTimestamp();
    }

    /// <summary>
    /// Waits for a turn to ask the parent, then checks the miss allowance: throws
    /// <see cref="OmniStoreError.Unavailable"/> when it is used up. Dispose the lease when the
    /// upstream request is answered, and call <see cref="Lease.Miss"/> first if the answer was an error.
    /// </summary>
    public async ValueTask<Lease> EnterAsync(CancellationToken cancellationToken)
    {
        await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!HasMissAllowance())
        {
            _inFlight.Release();
            throw new OmniStoreException(
                OmniStoreError.Unavailable,
                string.Create(CultureInfo.InvariantCulture, $"Too many misses: this connection asked for more items the parent does not have than the relay allows ({_missRate:0.#} per second, bursts of {_missBurst}). Retry later or ask another node."));
        }

        return new Lease(this);
    }

    private bool HasMissAllowance()
    {
        lock (_lock)
        {
            Refill();
            return _tokens >= 1;
        }
    }

    private void ChargeMiss()
    {
        lock (_lock)
        {
            Refill();

            // Requests already in flight may still miss: the debt is bounded by their number.
            _tokens = Math.Max(_tokens - 1, -_missBurst);
        }
    }

    private void Refill()
    {
        long now = _time.GetTimestamp();
        _tokens = Math.Min(_missBurst, _tokens + (_time.GetElapsedTime(_refilledAt, now).TotalSeconds * _missRate));
        _refilledAt = now;
    }

    /// <summary>One turn to ask the parent.</summary>
    internal readonly struct Lease(ChildUpstreamBudget? owner) : IDisposable
    {
        /// <summary>A lease that limits nothing, for requests that come from no child (this node's own).</summary>
        public static Lease None => default;

        /// <summary>The parent answered with an error: counts against the miss allowance.</summary>
        public void Miss() => owner?.ChargeMiss();

        public void Dispose() => owner?._inFlight.Release();
    }
}
