using System.Collections;
using OmniStore.Content;
using OmniStore.Protocol;

namespace OmniStore.Node.Internal;

/// <summary>
/// The transfers a node serves its children, for the tree view (docs/tree.md, "Transfers in
/// progress"): one starts when a child is served a manifest, and grows with each chunk of it served
/// to the same child. Bounded: <see cref="MaxPerConnection"/> per child and <see cref="MaxTransfers"/>
/// in all (the oldest go first), a chunk looked for in a window around the last one served, a done
/// transfer shown for <see cref="ShownWhenDone"/>, an idle one dropped after <see cref="IdleTimeout"/>.
/// </summary>
internal sealed class TransferTracker
{
    public const int MaxPerConnection = 4;
    public const int MaxTransfers = 256;
    public static readonly TimeSpan ShownWhenDone = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Chunk positions looked at, before and after the last one served, to find the one served now.</summary>
    private const int ScanBehind = 64;
    private const int ScanAhead = 1024;

    /// <summary>Names a connection resolved, remembered for its next GET_MANIFEST.</summary>
    private const int ResolvedPerConnection = 4;

    /// <summary>Names of manifests the node saw bound, node-wide, for a GET_MANIFEST no RESOLVE on its connection named.</summary>
    private const int NamedManifests = 256;

    private readonly Lock _lock = new();
    private readonly Dictionary<PeerConnection, Served> _byConnection = [];
    private readonly Dictionary<ManifestId, string> _names = [];
    private readonly Queue<ManifestId> _namedOrder = new();
    private int _count;

    /// <summary>A child resolved <paramref name="name"/> to <paramref name="manifest"/>: a GET_MANIFEST of it that follows is a transfer of that name.</summary>
    public void Resolved(PeerConnection connection, string name, ManifestId manifest)
    {
        lock (_lock)
        {
            var served = For(connection);
            served.Resolved.RemoveAll(r => r.Manifest == manifest);
            served.Resolved.Add((manifest, name));
            if (served.Resolved.Count > ResolvedPerConnection)
            {
                served.Resolved.RemoveAt(0);
            }
        }
    }

    /// <summary>The node saw <paramref name="name"/> bound to <paramref name="manifest"/> (a bind, an update, a resolve): a transfer of that manifest is shown by that name.</summary>
    public void Named(string name, ManifestId manifest)
    {
        lock (_lock)
        {
            if (_names.TryAdd(manifest, name))
            {
                _namedOrder.Enqueue(manifest);
                if (_namedOrder.Count > NamedManifests)
                {
                    _names.Remove(_namedOrder.Dequeue());
                }
            }
        }
    }

    /// <summary>A child was served <paramref name="manifest"/>: a transfer starts, named <paramref name="name"/> or as that child resolved it.</summary>
    public void Started(PeerConnection connection, Manifest manifest, string? name)
    {
        if (manifest.Length == 0)
        {
            return; // nothing to transfer
        }

        lock (_lock)
        {
            var served = For(connection);
            name ??= served.Resolved.FindLast(r => r.Manifest == manifest.Id).Name
                ?? _names.GetValueOrDefault(manifest.Id)
                ?? $"manifest {manifest.Id.ToString()[..16]}";
            long now = Environment.TickCount64;
            if (served.Transfers.Find(t => t.Manifest == manifest && !t.IsDone) is { } running)
            {
                running.LastActivity = now;
                return;
            }

            if (served.Transfers.Count >= MaxPerConnection)
            {
                served.Transfers.RemoveAt(0);
                _count--;
            }

            if (_count >= MaxTransfers)
            {
                DropOldest();
            }

            served.Transfers.Add(new Transfer(name, manifest, connection.Remote.Site, now));
            _count++;
        }
    }

    /// <summary>A child was served <paramref name="length"/> bytes of chunk <paramref name="id"/>.</summary>
    public void ChunkServed(PeerConnection connection, ChunkId id, int length)
    {
        lock (_lock)
        {
            if (!_byConnection.TryGetValue(connection, out var served))
            {
                return;
            }

            foreach (var transfer in served.Transfers)
            {
                if (!transfer.IsDone && transfer.TryMark(id, length, Environment.TickCount64))
                {
                    return;
                }
            }
        }
    }

    /// <summary>The child is gone: its transfers with it.</summary>
    public void Forget(PeerConnection connection)
    {
        lock (_lock)
        {
            if (_byConnection.Remove(connection, out var served))
            {
                _count -= served.Transfers.Count;
            }
        }
    }

    /// <summary>At most <paramref name="max"/> transfers, running ones first, the most recently active first; expired ones are dropped.</summary>
    public List<TreeTransfer> Snapshot(int max)
    {
        long now = Environment.TickCount64;
        var shown = new List<Transfer>();
        lock (_lock)
        {
            foreach (var served in _byConnection.Values)
            {
                _count -= served.Transfers.RemoveAll(t => t.IsDone ? now - t.LastActivity > ShownWhenDone.TotalMilliseconds : now - t.LastActivity > IdleTimeout.TotalMilliseconds);
                shown.AddRange(served.Transfers);
            }

            return shown
                .OrderBy(t => t.IsDone)
                .ThenByDescending(t => t.LastActivity)
                .Take(max)
                .Select(t => new TreeTransfer(t.Name, t.Peer, t.Done, t.Manifest.Length))
                .ToList();
        }
    }

    private Served For(PeerConnection connection)
    {
        if (!_byConnection.TryGetValue(connection, out var served))
        {
            served = new Served();
            _byConnection[connection] = served;
        }

        return served;
    }

    private void DropOldest()
    {
        Served? from = null;
        foreach (var served in _byConnection.Values)
        {
            if (served.Transfers.Count > 0 && (from is null || served.Transfers[0].LastActivity < from.Transfers[0].LastActivity))
            {
                from = served;
            }
        }

        if (from is not null)
        {
            from.Transfers.RemoveAt(0);
            _count--;
        }
    }

    private sealed class Served
    {
        public List<(ManifestId Manifest, string Name)> Resolved { get; } = [];

        public List<Transfer> Transfers { get; } = [];
    }

    private sealed class Transfer(string name, Manifest manifest, string peer, long started)
    {
        private readonly BitArray _served = new(manifest.Layout.ChunkCount);
        private int _cursor;

        public string Name { get; } = name;

        public Manifest Manifest { get; } = manifest;

        public string Peer { get; } = peer;

        public long Done { get; private set; }

        public long LastActivity { get; set; } = started;

        public bool IsDone => Done >= Manifest.Length;

        /// <summary>Marks the first unserved position of <paramref name="id"/> near the cursor; false when there is none.</summary>
        public bool TryMark(ChunkId id, int length, long now)
        {
            var chunks = Manifest.Chunks;
            int from = Math.Max(0, _cursor - ScanBehind);
            int to = Math.Min(chunks.Count, _cursor + ScanAhead);
            for (int i = from; i < to; i++)
            {
                if (!_served[i] && chunks[i] == id)
                {
                    _served[i] = true;
                    Done = Math.Min(Manifest.Length, Done + length);
                    _cursor = i + 1;
                    LastActivity = now;
                    return true;
                }
            }

            return false;
        }
    }
}
