using OmniStore.Protocol;

namespace OmniStore.Node;

/// <summary>
/// The tree as a node sees it (docs/tree.md, "/tree JSON"): itself, and under it what its child
/// relays reported. <c>Name</c> is the name asked about with <c>?name=</c>, if any.
/// </summary>
internal sealed record TreeView(DateTimeOffset GeneratedAt, long ReportIntervalMs, string? Name, TreeViewNode Root);

/// <summary>
/// One node of a <see cref="TreeView"/>. <c>AgeMs</c>: how old its numbers are; <c>Reported</c>:
/// false for a child relay that has sent no TREE_REPORT (an older version, or just connected);
/// <c>Holds</c>: whether it holds every chunk of the name asked about (null: no name, or no answer yet);
/// <c>Omitted</c>: relays below it that its report left out.
/// </summary>
internal sealed record TreeViewNode(
    string NodeId,
    string Site,
    string Role,
    long AgeMs,
    bool Reported,
    TreeViewLink? Link,
    TreeViewCache Cache,
    long Clients,
    long Relays,
    long InFlight,
    bool? Holds,
    IReadOnlyList<TreeTransfer> Transfers,
    IReadOnlyList<TreeViewError> Errors,
    long Omitted,
    IReadOnlyList<TreeViewNode> Children);

/// <summary>A node's link to its parent: up or not, how it runs, its round-trip time, and the payload bytes the node received from and sent to its parent.</summary>
internal sealed record TreeViewLink(bool Up, string Path, double? RttMs, long BytesIn, long BytesOut);

/// <summary>A node's store: bytes used of its size (0: no limit), chunk read hits and misses, and hits over reads (null before any read).</summary>
internal sealed record TreeViewCache(long UsedBytes, long SizeBytes, long Hits, long Misses, double? HitRatio)
{
    public static TreeViewCache Of(long used, long size, long hits, long misses) =>
        new(used, size, hits, misses, hits + misses == 0 ? null : Math.Round((double)hits / (hits + misses), 4));
}

/// <summary>An error a node met, and when.</summary>
internal sealed record TreeViewError(DateTimeOffset At, string Text);
