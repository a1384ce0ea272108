using System.Collections.Concurrent;
using OmniStore.Content;
using OmniStore.Node.Internal;
using OmniStore.Protocol;

namespace OmniStore.Node;

/// <summary>
/// The tree seen from this node (docs/tree.md): every report interval a relay sends its parent a
/// TREE_REPORT of itself and of what its child relays last reported; a node keeps the last report
/// of each child relay (keyed by the connection, so by the id its handshake proved, and gone with
/// it), and builds the <see cref="TreeView"/> that <c>/tree</c> serves from them and its own status.
/// </summary>
internal sealed partial class TreeNode
{
    /// <summary>How long a name asked about with <c>?name=</c> stays asked of the subtree.</summary>
    private static readonly TimeSpan AskLifetime = TimeSpan.FromSeconds(30);

    /// <summary>A name of more chunks than this is not checked chunk by chunk for the staging view (it answers "not held").</summary>
    private const int MaxHoldsChunks = 1 << 16;

    private readonly TransferTracker _transfers = new();
    private readonly RecentErrors _recentErrors = new();
    private readonly ConcurrentDictionary<PeerConnection, ReceivedReport> _treeReports = new();
    private readonly Lock _askLock = new();
    private readonly Dictionary<string, long> _askedHere = [];
    private IReadOnlyList<string> _askedByParent = [];
    private Task? _treeReportLoop;

    private sealed record ReceivedReport(TreeReport Report, long ReceivedAt);

    /// <summary>Child relays whose last TREE_REPORT the node holds.</summary>
    internal int TreeReportCount => _treeReports.Count;

    /// <summary>Notes an error for the tree view's recent errors.</summary>
    internal void NoteError(string text) => _recentErrors.Note(text);

    private void ForgetTreeState(PeerConnection connection)
    {
        _treeReports.TryRemove(connection, out _);
        _transfers.Forget(connection);
    }

    /// <summary>TREE_REPORT from a child: only a relay sends one, and only about itself and its subtree.</summary>
    private Task ServeTreeReportAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
    {
        if (connection.Remote.Role != NodeRole.Relay)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, "Only a relay sends TREE_REPORT; this peer joined as a client.");
        }

        var report = TreeReportMessages.Decode(request.Payload, connection.Remote.NodeId);
        if (connection.IsOpen && _children.ContainsKey(connection))
        {
            _treeReports[connection] = new ReceivedReport(report, Environment.TickCount64);
        }

        return connection.RespondAsync(request.Stream, FrameType.Ok, TreeReportMessages.EncodeAsk(AskedNames())).AsTask();
    }

    /// <summary>A relay's loop: a report to the parent every interval while the link is up and speaks version 8.</summary>
    private async Task TreeReportLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.TreeReportInterval);
        var wait = TimeSpan.FromTicks(Math.Max(_options.TreeReportInterval.Ticks * 5, TimeSpan.FromSeconds(5).Ticks));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                if (Parent?.Current is not { } parent || parent.Version < ProtocolLimits.TreeReportVersion)
                {
                    continue;
                }

                try
                {
                    var payload = await BuildTreeReportAsync(_stopping.Token).ConfigureAwait(false);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                    timeout.CancelAfter(wait);
                    using var answer = await parent.RequestAsync(FrameType.TreeReport, payload, timeout.Token).ConfigureAwait(false);
                    _askedByParent = answer.Type == FrameType.Ok ? TreeReportMessages.DecodeAsk(answer.Payload) : [];
                }
                catch (Exception ex) when (ex is OmniStoreException or ObjectDisposedException || (ex is OperationCanceledException && !_stopping.IsCancellationRequested))
                {
                    // The next interval tries again; a lost link is noted by the link itself.
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the node is stopping
        }
    }

    /// <summary>The report this node sends its parent now: itself, then its child relays' last reports, level by level, within the bounds.</summary>
    internal async Task<byte[]> BuildTreeReportAsync(CancellationToken cancellationToken)
    {
        var names = AskedNames();
        var writer = new TreeReportMessages.Writer(names);
        writer.TryAdd(await OwnEntryAsync(names, cancellationToken).ConfigureAwait(false));
        var reports = LiveReports();
        long now = Environment.TickCount64;
        long omitted = 0;
        var placed = new int[reports.Count][];
        var depths = new int[reports.Count][];
        for (int k = 0; k < reports.Count; k++)
        {
            var entries = reports[k].Received.Report.Entries;
            placed[k] = new int[entries.Count];
            depths[k] = new int[entries.Count];
            for (int i = 1; i < entries.Count; i++)
            {
                depths[k][i] = depths[k][entries[i].Parent] + 1;
            }

            omitted += reports[k].Received.Report.Omitted;
        }

        // Level by level, so that a bound cuts the deepest relays first, not the last child's subtree.
        for (int depth = 0; depth <= TreeReportMessages.MaxDepth; depth++)
        {
            for (int k = 0; k < reports.Count; k++)
            {
                var (report, received) = reports[k].Received;
                for (int i = 0; i < report.Entries.Count; i++)
                {
                    if (depths[k][i] != depth)
                    {
                        continue;
                    }

                    var entry = report.Entries[i];
                    int parent = i == 0 ? 0 : placed[k][entry.Parent];
                    bool added = parent >= 0 && writer.TryAdd(entry with
                    {
                        Parent = parent,
                        AgeMs = entry.AgeMs + (now - received),
                        Holds = Remap(entry.Holds, report.Names, names),
                    });
                    placed[k][i] = added ? writer.Count - 1 : -1;
                    omitted += added ? 0 : 1;
                }
            }
        }

        return writer.ToArray(omitted);
    }

    /// <summary>Bits of a child's answer, for <paramref name="from"/>'s names, moved to their places in <paramref name="to"/>.</summary>
    private static byte Remap(byte holds, IReadOnlyList<string> from, IReadOnlyList<string> to)
    {
        int mapped = 0;
        for (int i = 0; i < from.Count; i++)
        {
            int at = IndexOf(to, from[i]);
            if ((holds & (1 << i)) != 0 && at >= 0)
            {
                mapped |= 1 << at;
            }
        }

        return (byte)mapped;
    }

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (string.Equals(names[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The reports of child relays still connected, in site then id order; those of closed connections are dropped.</summary>
    private List<(PeerConnection Connection, ReceivedReport Received)> LiveReports()
    {
        var live = new List<(PeerConnection, ReceivedReport)>(_treeReports.Count);
        foreach (var (connection, received) in _treeReports)
        {
            if (connection.IsOpen)
            {
                live.Add((connection, received));
            }
            else
            {
                _treeReports.TryRemove(connection, out _);
            }
        }

        return live
            .OrderBy(r => r.Item1.Remote.Site, StringComparer.Ordinal)
            .ThenBy(r => r.Item1.Remote.NodeId.ToString(), StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>This node's own entry, from its own counters, answering <paramref name="names"/> from its own store.</summary>
    private async Task<TreeReportEntry> OwnEntryAsync(IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        byte holds = 0;
        for (int i = 0; i < names.Count; i++)
        {
            if (await HoldsAllAsync(names[i], cancellationToken).ConfigureAwait(false))
            {
                holds |= (byte)(1 << i);
            }
        }

        var link = Parent;
        var up = link?.Current;
        int relays = _children.Keys.Count(c => c.Remote.Role == NodeRole.Relay);
        return new TreeReportEntry(
            -1,
            NodeId,
            Site,
            0,
            up is not null,
            link?.Counters.PayloadIn ?? 0,
            link?.Counters.PayloadOut ?? 0,
            up?.SmoothedRtt is { } rtt ? (long)rtt.TotalMicroseconds : null,
            up?.Path?.ToString() ?? "",
            _store.UsedBytes,
            _store.Capacity,
            _store.Hits,
            _store.Misses,
            _children.Count - relays,
            relays,
            InFlight,
            holds,
            _transfers.Snapshot(TreeReportMessages.MaxTransfers),
            _recentErrors.Newest(TreeReportMessages.MaxErrors));
    }

    /// <summary>Whether this node's store holds every chunk of what <paramref name="name"/> is bound to (at a relay: as it last learned the binding).</summary>
    internal async Task<bool> HoldsAllAsync(string name, CancellationToken cancellationToken)
    {
        if (await _store.ResolveAsync(name, cancellationToken).ConfigureAwait(false) is not { IsBound: true } binding
            || await _store.ReadManifestAsync(binding.ManifestId, cancellationToken).ConfigureAwait(false) is not { } manifest
            || manifest.Chunks.Count > MaxHoldsChunks)
        {
            return false;
        }

        foreach (var chunk in manifest.Chunks.Distinct())
        {
            if (!await _store.ContainsChunkAsync(chunk, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The names to ask the subtree about: those the parent asks, then those asked here with <c>?name=</c>, at most <see cref="TreeReportMessages.MaxNames"/>.</summary>
    private List<string> AskedNames()
    {
        lock (_askLock)
        {
            long now = Environment.TickCount64;
            foreach (var expired in _askedHere.Where(a => a.Value < now).Select(a => a.Key).ToList())
            {
                _askedHere.Remove(expired);
            }

            return _askedByParent
                .Concat(_askedHere.OrderByDescending(a => a.Value).Select(a => a.Key))
                .Distinct(StringComparer.Ordinal)
                .Take(TreeReportMessages.MaxNames)
                .ToList();
        }
    }

    private void NoteAsked(string name)
    {
        lock (_askLock)
        {
            _askedHere[name] = Environment.TickCount64 + (long)AskLifetime.TotalMilliseconds;
            if (_askedHere.Count > TreeReportMessages.MaxNames)
            {
                _askedHere.Remove(_askedHere.MinBy(a => a.Value).Key);
            }
        }
    }

    /// <summary>
    /// The tree seen from this node: itself, and each child relay with the subtree it last reported.
    /// With <paramref name="name"/> (a valid object name), which nodes hold all of it: the subtree is
    /// asked about it from now on for <see cref="AskLifetime"/>, and answers within an interval per level.
    /// </summary>
    public async Task<TreeView> GetTreeAsync(string? name, CancellationToken cancellationToken)
    {
        if (name is not null)
        {
            ObjectName.Validate(name);
            NoteAsked(name);
        }

        IReadOnlyList<string> names = name is null ? [] : [name];
        var self = await OwnEntryAsync(names, cancellationToken).ConfigureAwait(false);
        long now = Environment.TickCount64;
        var children = new List<TreeViewNode>();
        var reported = new HashSet<PeerConnection>();
        foreach (var (connection, received) in LiveReports())
        {
            reported.Add(connection);
            children.Add(ViewOf(connection, received, name, now));
        }

        foreach (var relay in _children.Keys.Where(c => c.Remote.Role == NodeRole.Relay && !reported.Contains(c)).OrderBy(c => c.Remote.Site, StringComparer.Ordinal))
        {
            children.Add(new TreeViewNode(relay.Remote.NodeId.ToString(), relay.Remote.Site, "relay", 0, false,
                new TreeViewLink(true, relay.Path?.ToString() ?? "", Milliseconds(relay.SmoothedRtt), relay.Counters.PayloadOut, relay.Counters.PayloadIn),
                TreeViewCache.Of(0, 0, 0, 0), 0, 0, 0, null, [], [], 0, []));
        }

        var root = Node(self, IsRoot ? "root" : "relay", 0, true, IsRoot ? null : LinkOf(self, rttMs: null), name is null ? null : (self.Holds & 1) != 0, 0, children);
        return new TreeView(DateTimeOffset.UtcNow, (long)_options.TreeReportInterval.TotalMilliseconds, name, root);
    }

    /// <summary>A child relay's report as nodes: its entry 0 with the link as this node measures it, the rest as it reported them.</summary>
    private static TreeViewNode ViewOf(PeerConnection connection, ReceivedReport received, string? name, long now)
    {
        var (report, at) = received;
        int bit = name is null ? -1 : IndexOf(report.Names, name);
        var kids = new List<TreeViewNode>[report.Entries.Count];
        TreeViewNode? top = null;
        for (int i = report.Entries.Count - 1; i >= 0; i--)
        {
            var entry = report.Entries[i];
            bool? holds = name is null || bit < 0 ? null : (entry.Holds & (1 << bit)) != 0;
            var link = i == 0 ? LinkOf(entry, Milliseconds(connection.SmoothedRtt)) with { Path = connection.Path?.ToString() ?? entry.Path } : LinkOf(entry, rttMs: null);
            var node = Node(entry, "relay", entry.AgeMs + (now - at), true, link, holds, i == 0 ? report.Omitted : 0, kids[i] is { } list ? Enumerable.Reverse(list).ToList() : []);
            if (i == 0)
            {
                top = node;
            }
            else
            {
                (kids[entry.Parent] ??= []).Add(node);
            }
        }

        return top!;
    }

    private static TreeViewLink LinkOf(TreeReportEntry entry, double? rttMs) =>
        new(entry.LinkUp, entry.Path, rttMs ?? (entry.RttMicroseconds is { } us ? Math.Round(us / 1000.0, 3) : null), entry.BytesIn, entry.BytesOut);

    private static TreeViewNode Node(TreeReportEntry entry, string role, long ageMs, bool reported, TreeViewLink? link, bool? holds, long omitted, IReadOnlyList<TreeViewNode> children) =>
        new(entry.NodeId.ToString(), entry.Site, role, ageMs, reported, link,
            TreeViewCache.Of(entry.CacheUsed, entry.CacheSize, entry.Hits, entry.Misses),
            entry.Clients, entry.Relays, entry.InFlight, holds, entry.Transfers,
            entry.Errors.Select(e => new TreeViewError(DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(e.AtUnixMs, 0, 253402300799999)), e.Text)).ToList(),
            omitted, children);
}
