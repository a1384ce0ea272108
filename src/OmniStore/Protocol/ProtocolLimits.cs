using OmniStore.Content;

namespace OmniStore.Protocol;

/// <summary>The limits every peer enforces (docs/protocol.md, "Frames").</summary>
internal static class ProtocolLimits
{
    /// <summary>
    /// The protocol versions this build speaks: 2, the version with node identities (version 1's
    /// handshake proved no id, and is refused by its range; docs/protocol.md, "Versions").
    /// </summary>
    public const ushort MinVersion = 2;

    /// <summary>
    /// The protocol versions this build speaks: 3 adds GET_OBJECT and OBJECT (a small object in one
    /// round trip), 4 abandoned answers (a relay streams a chunk it is still fetching), 5 PUT_OBJECT
    /// (a small object put in one round trip), 6 the opener proving the shared secret first and
    /// REVOCATIONS (the tree CA's revocation list sent down the tree), 7 LIST and WAIT (docs/watch.md),
    /// 8 conditional and expiring Puts (docs/api.md, "Publish") TRACE (a request's trace context), WATCH and CHANGE (docs/watch.md), and TREE_REPORT (a relay's summary of its subtree; docs/tree.md).
    /// </summary>
    public const ushort MaxVersion = 8;

    /// <summary>
    /// The first version whose BIND and PUT_OBJECT carry conditions and a time to live, and whose
    /// BINDING and UPDATE carry an expiry (docs/protocol.md, "Conditional Puts").
    /// </summary>
    public const ushort ConditionalPutVersion = 8;

    /// <summary>The first version with TRACE (docs/protocol.md, "TRACE").</summary>
    public const ushort TraceVersion = 8;

    /// <summary>The first version with TREE_REPORT (docs/tree.md).</summary>
    public const ushort TreeReportVersion = 8;

    /// <summary>The first version with WATCH and CHANGE (docs/watch.md, "Watch").</summary>
    public const ushort WatchVersion = 8;

    /// <summary>The first version with LIST, LISTING and WAIT (docs/watch.md).</summary>
    public const ushort ListingVersion = 7;

    /// <summary>
    /// The first version in which the opener proves the shared secret first and the acceptor proves
    /// it in its READY (docs/protocol.md, "Proofs"): a stranger that dials learns nothing it could
    /// test guesses against offline. A node holding a shared secret speaks no lower version.
    /// </summary>
    public const ushort OpenerProvesFirstVersion = 6;

    /// <summary>The first version with REVOCATIONS (docs/tls.md, "Revocation").</summary>
    public const ushort RevocationsVersion = 6;

    /// <summary>The first version with PUT_OBJECT.</summary>
    public const ushort PutObjectVersion = 5;

    /// <summary>The first version with GET_OBJECT and OBJECT.</summary>
    public const ushort ObjectVersion = 3;

    /// <summary>
    /// The first version whose receivers take an ERROR in place of the rest of an answer already
    /// begun (docs/protocol.md, "Abandoned answers"): only such a child is sent a chunk while it arrives.
    /// </summary>
    public const ushort AbandonVersion = 4;

    /// <summary>Header bytes before the payload.</summary>
    public const int HeaderSize = 12;

    /// <summary>The largest frame payload: big messages are split so small ones interleave.</summary>
    public const int MaxFramePayload = 256 * 1024;

    /// <summary>The largest message (a 16 MiB chunk or manifest part plus its small header).</summary>
    public const int MaxMessage = ChunkLayout.MaxChunkSize + 64;

    /// <summary>Requests of one connection a node serves at once; more wait their turn.</summary>
    public const int MaxConcurrentHandlers = 8;

    /// <summary>Requests one side may have in flight on one connection.</summary>
    public const int MaxConcurrentRequests = 256;
}
