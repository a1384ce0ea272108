using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Transport;

namespace OmniStore.Node;

/// <summary>Settings of a root or relay node. Without <see cref="Parent"/> the node is the root.</summary>
internal sealed record TreeNodeOptions
{
    /// <summary>Where to listen. Required; port 0 picks a free port (see <see cref="TreeNode.Address"/>).</summary>
    public required NodeAddress Listen { get; init; }

    /// <summary>The parent's address; null for the root.</summary>
    public NodeAddress? Parent { get; init; }

    /// <summary>The node's site name, reported in handshakes and status. Defaults to the host name.</summary>
    public string Site { get; init; } = Environment.MachineName;

    /// <summary>The store directory. Required.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// A relay's cache size in bytes (required for a relay); a root's capacity (0 = unlimited).
    /// Defaults to 0.
    /// </summary>
    public long CacheSize { get; init; }

    /// <summary>The shared secret peers must prove they know; null for none. Defaults to null.</summary>
    public byte[]? Secret { get; init; }

    /// <summary>Chunk requests a relay keeps in flight toward its parent for one prefetch. Defaults to 16.</summary>
    public int PrefetchWindow { get; init; } = 16;

    /// <summary>The default of <see cref="BindingCacheSize"/>.</summary>
    public const int DefaultBindingCacheSize = 65_536;

    /// <summary>
    /// How many names a relay keeps the binding of in memory (each also stays in its store while the
    /// cache keeps it); others are asked of the parent again. Defaults to <see cref="DefaultBindingCacheSize"/>.
    /// </summary>
    public int BindingCacheSize { get; init; } = DefaultBindingCacheSize;

    /// <summary>How long the root waits for a subtree to apply a binding update before disconnecting it. Defaults to 10 s.</summary>
    public TimeSpan UpdateTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The default of <see cref="MaxConnectionsPerAddress"/>.</summary>
    public const int DefaultMaxConnectionsPerAddress = 256;

    /// <summary>The default of <see cref="MaxPendingHandshakes"/>.</summary>
    public const int DefaultMaxPendingHandshakes = 128;

    /// <summary>The largest <see cref="HandshakeTimeout"/>: the protocol's own bound on a handshake.</summary>
    public static readonly TimeSpan MaxHandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Connections from children (relays and clients) the node holds at once, handshakes in progress
    /// included; one more is accepted and closed at once with an <c>Unavailable</c> ERROR, so the
    /// kernel's backlog never fills and the node never runs out of descriptors. Each connection
    /// costs one descriptor and some memory. Null: derived from the descriptor limit when the node
    /// starts (<see cref="Internal.ConnectionAdmission.DefaultMaxConnections"/>: the descriptors free
    /// then, less 128 or an eighth of them for the store, the status listener and the runtime, at
    /// most 16,384; about 750 under the usual soft limit of 1024). Defaults to null.
    /// </summary>
    public int? MaxConnections { get; init; }

    /// <summary>
    /// Connections from one source address (IPv6: one /64 prefix) the node holds at once, so one
    /// host cannot take every slot; the next is refused like one over <see cref="MaxConnections"/>.
    /// Capped at <see cref="MaxConnections"/>. Defaults to <see cref="DefaultMaxConnectionsPerAddress"/>.
    /// </summary>
    public int MaxConnectionsPerAddress { get; init; } = DefaultMaxConnectionsPerAddress;

    /// <summary>
    /// Connections still in their handshake the node holds at once (one address may hold at most
    /// half of them); more are refused. Capped at <see cref="MaxConnections"/>. Defaults to
    /// <see cref="DefaultMaxPendingHandshakes"/>.
    /// </summary>
    public int MaxPendingHandshakes { get; init; } = DefaultMaxPendingHandshakes;

    /// <summary>
    /// How long a new connection may take to complete its handshake before it is closed, at most
    /// <see cref="MaxHandshakeTimeout"/>. Defaults to 10 s.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; init; } = MaxHandshakeTimeout;

    /// <summary>
    /// After this long without traffic from a peer (frames other than PING and PONG), the node
    /// sends it a PING, at most one per interval; the PONG measures the round trip. An idle but
    /// live peer answers, so it keeps its connection, and NAT mappings on the way stay open.
    /// Below <see cref="IdleTimeout"/>. Defaults to 10 s.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; init; } = ConnectionLiveness.DefaultKeepAliveInterval;

    /// <summary>
    /// A peer that sends no complete frame for this long, or nothing of a message it started, is
    /// declared dead and its connection closed: liveness is measured in frames, so trickling bytes
    /// does not keep a connection open. A live peer answers the node's PINGs. A link must carry a
    /// 256 KiB frame within this time. Defaults to 30 s.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = ConnectionLiveness.DefaultIdleTimeout;

    /// <summary>Logging. Defaults to none.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    internal bool IsRoot => Parent is null;

    internal ConnectionLiveness Liveness => new(KeepAliveInterval, IdleTimeout);

    internal ContentStoreOptions StoreOptions => new()
    {
        Directory = DataDirectory,
        Mode = IsRoot ? StoreMode.Pinned : StoreMode.Cache,
        Capacity = CacheSize,

        // A relay's memory goes to serving its children; two log pages (64 MiB) are enough for a
        // cache whose reads mostly come from the OS page cache anyway.
        LogMemory = IsRoot ? 0 : ContentStoreOptions.MinimalLogMemory,
    };

    public void Validate(string argumentName = "options")
    {
        ArgumentNullException.ThrowIfNull(Listen, argumentName);
        if (!IsRoot && CacheSize <= 0)
        {
            throw new ArgumentException($"A relay needs a {nameof(CacheSize)}.", argumentName);
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(PrefetchWindow, 1, argumentName);
        if (MaxConnections is < 1)
        {
            throw new ArgumentOutOfRangeException(argumentName, MaxConnections, $"{nameof(MaxConnections)} must be at least 1 (or null for the default).");
        }

        if (MaxConnectionsPerAddress < 1)
        {
            throw new ArgumentOutOfRangeException(argumentName, MaxConnectionsPerAddress, $"{nameof(MaxConnectionsPerAddress)} must be at least 1.");
        }

        if (MaxPendingHandshakes < 1)
        {
            throw new ArgumentOutOfRangeException(argumentName, MaxPendingHandshakes, $"{nameof(MaxPendingHandshakes)} must be at least 1.");
        }

        if (HandshakeTimeout <= TimeSpan.Zero || HandshakeTimeout > MaxHandshakeTimeout)
        {
            throw new ArgumentOutOfRangeException(argumentName, HandshakeTimeout, $"{nameof(HandshakeTimeout)} must be more than 0 and at most {MaxHandshakeTimeout.TotalSeconds} s.");
        }

        Liveness.Validate(argumentName);
        StoreOptions.Validate(argumentName);
    }
}
