namespace OmniStore.Node.Internal;

/// <summary>
/// What a relay's parent recently said it does not have (a chunk, a manifest, a name), remembered
/// for a short time so that asking again is answered here instead of upstream. Bounded: at most
/// <c>capacity</c> entries, the oldest forgotten first.
/// </summary>
/// <remarks>
/// Read-your-writes: whatever could make a remembered miss wrong (a binding update, a chunk or
/// manifest written through the relay, a new parent connection) calls <see cref="Clear"/> or
/// <see cref="Forget"/>, which also advance <see cref="Generation"/>. An answer is remembered only
/// if no such call came between asking and answering (<see cref="TryRemember"/>), so an answer the
/// parent gave before a Put cannot be remembered after the Put's update arrived.
/// </remarks>
internal sealed class MissCache<TKey>
    where TKey : notnull
{
    private readonly Lock _lock = new();
    private readonly Dictionary<TKey, long> _expiries;
    private readonly Queue<(TKey Key, long Expiry)> _order = new();
    private readonly int _capacity;
    private readonly long _lifetime;
    private readonly TimeProvider _time;
    private long _generation;

    public MissCache(int capacity, TimeSpan lifetime, TimeProvider? time = null, IEqualityComparer<TKey>? comparer = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
        _time = time ?? TimeProvider.System;
        _lifetime = (long)(lifetime.TotalSeconds * _time.TimestampFrequency);
        _expiries = new Dictionary<TKey, long>(comparer);
    }

    /// <summary>Advances whenever remembered misses may have become wrong; read it before asking the parent.</summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>How many misses are remembered now (expired ones included until they are dropped).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _expiries.Count;
            }
        }
    }

    /// <summary>Whether the parent said recently that it does not have <paramref name="key"/>.</summary>
    public bool Contains(TKey key)
    {
        lock (_lock)
        {
            if (!_expiries.TryGetValue(key, out long expiry))
            {
                return false;
            }

            if (expiry - _time.GetTimestamp() > 0)
            {
                return true;
            }

            _expiries.Remove(key);
            return false;
        }
    }

    /// <summary>
    /// Remembers that the parent does not have <paramref name="key"/>, if nothing invalidated misses
    /// since <paramref name="generation"/> (read before asking). Returns false when something did:
    /// then the answer may predate a write, and the caller should ask again.
    /// </summary>
    public bool TryRemember(TKey key, long generation)
    {
        lock (_lock)
        {
            if (generation != _generation)
            {
                return false;
            }

            if (_lifetime <= 0)
            {
                return true; // remembering is off; the answer itself is current
            }

            long now = _time.GetTimestamp();
            while (_order.Count > 0 && (_order.Count >= _capacity || _order.Peek().Expiry - now <= 0))
            {
                var (old, expiry) = _order.Dequeue();
                if (_expiries.TryGetValue(old, out long current) && current == expiry)
                {
                    _expiries.Remove(old);
                }
            }

            long until = now + _lifetime;
            _expiries[key] = until;
            _order.Enqueue((key, until));
            return true;
        }
    }

    /// <summary>Forgets <paramref name="key"/> (it was just written here) and invalidates answers in flight.</summary>
    public void Forget(TKey key)
    {
        lock (_lock)
        {
            _generation++;
            _expiries.Remove(key);
        }
    }

    /// <summary>Forgets every miss and invalidates answers in flight.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _generation++;
            _expiries.Clear();
            _order.Clear();
        }
    }
}
