namespace OmniStore.Protocol;

/// <summary>
/// A TREE_REPORT (protocol version 8; docs/tree.md): a relay and a bounded summary of the relays
/// below it, sent to its parent every report interval. <see cref="Entries"/>[0] is the sender; every
/// other entry names its parent by index, so the entries form a tree rooted at the sender.
/// </summary>
/// <param name="Names">The names the <see cref="TreeReportEntry.Holds"/> bits answer, in bit order (at most <see cref="TreeReportMessages.MaxNames"/>).</param>
/// <param name="Entries">The sender first, then relays of its subtree, each after its parent.</param>
/// <param name="Omitted">Relays of the subtree the sender left out to stay within the bounds.</param>
internal sealed record TreeReport(IReadOnlyList<string> Names, IReadOnlyList<TreeReportEntry> Entries, long Omitted);

/// <summary>One node of a <see cref="TreeReport"/>: what it says of itself, its parent link, cache, clients, transfers and errors.</summary>
/// <param name="Parent">The index of its parent entry; -1 for entry 0, the sender.</param>
/// <param name="NodeId">Its id: for entry 0 the one the link proved; below, the sender's word.</param>
/// <param name="Site">Its site.</param>
/// <param name="AgeMs">How old the sender's copy of this entry is (0 for the sender itself).</param>
/// <param name="LinkUp">Whether its parent link is up.</param>
/// <param name="BytesIn">Payload bytes it received from its parent, by its own count.</param>
/// <param name="BytesOut">Payload bytes it sent to its parent, by its own count.</param>
/// <param name="RttMicroseconds">Its parent link's smoothed round-trip time; null until measured.</param>
/// <param name="Path">How its parent link runs: transport and path type ("tcp direct").</param>
/// <param name="CacheUsed">Bytes its store uses.</param>
/// <param name="CacheSize">Bytes its store may use (0: no limit).</param>
/// <param name="Hits">Chunk reads its store answered.</param>
/// <param name="Misses">Chunk reads its store could not answer.</param>
/// <param name="Clients">Clients connected to it now.</param>
/// <param name="Relays">Relays connected to it now.</param>
/// <param name="InFlight">Requests it serves now.</param>
/// <param name="Holds">Bit i: it holds every chunk of the report's name i.</param>
/// <param name="Transfers">Transfers it serves its children (at most <see cref="TreeReportMessages.MaxTransfers"/>).</param>
/// <param name="Errors">Its recent errors, newest first (at most <see cref="TreeReportMessages.MaxErrors"/>).</param>
internal sealed record TreeReportEntry(
    int Parent,
    NodeId NodeId,
    string Site,
    long AgeMs,
    bool LinkUp,
    long BytesIn,
    long BytesOut,
    long? RttMicroseconds,
    string Path,
    long CacheUsed,
    long CacheSize,
    long Hits,
    long Misses,
    long Clients,
    long Relays,
    long InFlight,
    byte Holds,
    IReadOnlyList<TreeTransfer> Transfers,
    IReadOnlyList<TreeError> Errors);

/// <summary>A transfer a node serves to a child: the name, the child's site, bytes served of the object's length.</summary>
internal sealed record TreeTransfer(string Name, string Peer, long DoneBytes, long TotalBytes);

/// <summary>An error a node met, and when (Unix milliseconds).</summary>
internal sealed record TreeError(long AtUnixMs, string Text);
