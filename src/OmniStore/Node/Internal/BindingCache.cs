using System.Collections.Concurrent;
using OmniStore.Protocol;

namespace OmniStore.Node.Internal;

/// <summary>
/// The bindings a relay answers resolves from while its parent is connected: at most
/// <see cref="Capacity"/> names, newest version per name. When a new name would exceed the capacity,
/// a sweep drops every name not looked up or updated again since it was added or since the previous
/// sweep (a second chance, as the store gives chunks); a dropped name is simply asked of the parent
/// again.
/// </summary>
internal sealed class BindingCache(int capacity)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _sweepLock = new();
    private int _count;

    /// <summary>The most names held.</summary>
    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    /// <summary>How many names are held now.</summary>
    public int Count => Volatile.Read(ref _count);

    public bool TryGet(string name, out BindingMessage binding)
    {
        if (_entries.TryGetValue(name, out var entry))
        {
            entry.Referenced = true;
            binding = entry.Binding;
            return true;
        }

        binding = default;
        return false;
    }

    /// <summary>Keeps <paramref name="binding"/> unless a newer version of its name is held; returns the version kept.</summary>
    public BindingMessage KeepNewest(BindingMessage binding)
    {
        while (true)
        {
            if (_entries.TryGetValue(binding.Name, out var held))
            {
                held.Referenced = true;
                if (held.Binding.Version >= binding.Version)
                {
                    return held.Binding;
                }

                if (_entries.TryUpdate(binding.Name, new Entry(binding), held))
                {
                    return binding;
                }
            }
            else
            {
                var added = new Entry(binding);
                if (_entries.TryAdd(binding.Name, added))
                {
                    if (Interlocked.Increment(ref _count) > Capacity)
                    {
                        Sweep(added);
                    }

                    return binding;
                }
            }
        }
    }

    /// <summary>Forgets every name (bindings learned before an outage of the parent may be stale).</summary>
    public void Clear()
    {
        foreach (var entry in _entries)
        {
            Remove(entry);
        }
    }

    /// <summary>Drops names not in use to make room for <paramref name="added"/>, which stays.</summary>
    private void Sweep(Entry added)
    {
        lock (_sweepLock)
        {
            // A second round only when every name was in use: like a CLOCK hand going around twice.
            for (int round = 0; round < 2 && Count > Capacity; round++)
            {
                foreach (var entry in _entries)
                {
                    if (!entry.Value.Referenced && entry.Value != added)
                    {
                        Remove(entry);
                    }
                    else
                    {
                        entry.Value.Referenced = false;
                    }
                }
            }
        }
    }

    private void Remove(KeyValuePair<string, Entry> entry)
    {
        if (_entries.TryRemove(entry))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    private sealed class Entry(BindingMessage binding)
    {
        private int _referenced;

        public BindingMessage Binding { get; } = binding;

        /// <summary>Looked up or updated since the previous sweep.</summary>
        public bool Referenced
        {
            get => Volatile.Read(ref _referenced) != 0;
            set => Volatile.Write(ref _referenced, value ? 1 : 0);
        }
    }
}
