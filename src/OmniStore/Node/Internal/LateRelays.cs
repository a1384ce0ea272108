using System.Net;

namespace OmniStore.Node.Internal;

/// <summary>
/// Relays that missed an update deadline, by address, and until when relays from that address are
/// refused: the first time for the base cooldown, doubled on each repeat up to the longest, and
/// forgotten after twice the longest without one. An address is the only identity a relay has
/// until nodes get persistent ids, so relays that share an address (one host, one NAT) share it.
/// Bounded: at most <see cref="Capacity"/> addresses are remembered.
/// </summary>
internal sealed class LateRelays(TimeSpan cooldown, TimeSpan maxCooldown, TimeProvider? time = null)
{
    /// <summary>Addresses remembered at most; beyond, the one whose refusal ends first is forgotten.</summary>
    public const int Capacity = 4096;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<IPAddress, Entry> _entries = [];

    public int Count
    {
        get
        {
            lock (_entries)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Records that the relay at <paramref name="address"/> missed a deadline; returns how long relays from there are now refused.</summary>
    public TimeSpan Strike(IPAddress address)
    {
        address = Normalize(address);
        var now = _time.GetUtcNow();
        lock (_entries)
        {
            int strikes = _entries.TryGetValue(address, out var previous) && now - previous.LastStrike <= 2 * maxCooldown
                ? previous.Strikes + 1
                : 1;
            if (!_entries.ContainsKey(address) && _entries.Count >= Capacity)
            {
                MakeRoom(now);
            }

            var length = CooldownAfter(strikes);
            _entries[address] = new Entry(Math.Min(strikes, 62), now, now + length);
            return length;
        }
    }

    /// <summary>How much longer relays from <paramref name="address"/> are refused; null when they are not.</summary>
    public TimeSpan? RefusedFor(IPAddress address)
    {
        address = Normalize(address);
        var now = _time.GetUtcNow();
        lock (_entries)
        {
            return _entries.TryGetValue(address, out var entry) && entry.RefusedUntil > now ? entry.RefusedUntil - now : null;
        }
    }

    private TimeSpan CooldownAfter(int strikes)
    {
        // Doubling in a loop rather than a shift: no overflow however many strikes.
        var length = cooldown;
        for (int i = 1; i < strikes && length < maxCooldown; i++)
        {
            length *= 2;
        }

        return length < maxCooldown ? length : maxCooldown;
    }

    private void MakeRoom(DateTimeOffset now)
    {
        foreach (var (address, entry) in _entries.ToList())
        {
            if (now - entry.LastStrike > 2 * maxCooldown)
            {
                _entries.Remove(address);
            }
        }

        if (_entries.Count >= Capacity)
        {
            _entries.Remove(_entries.MinBy(e => e.Value.RefusedUntil).Key);
        }
    }

    // A client of a dual-stack listener may arrive as ::ffff:a.b.c.d one time and a.b.c.d another.
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private readonly record struct Entry(int Strikes, DateTimeOffset LastStrike, DateTimeOffset RefusedUntil);
}
