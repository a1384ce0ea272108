using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Transport;

namespace OmniStore.Node;

/// <summary>Settings of a root or relay node. Without <see cref="Parent"/> the node is the root.</summary>
internal sealed record TreeNodeOptions
{
    /// <summary>The most addresses <see cref="Listen"/> may hold.</summary>
    public const int MaxListenAddresses = 16;

    /// <summary>
    /// Where to listen: one address or more, of any registered schemes, accepted from alike
    /// (<c>[tcp://0.0.0.0:7070, mem://relay]</c>); at most <see cref="MaxListenAddresses"/>, none
    /// twice. Port 0 picks a free port; <see cref="TreeNode.Addresses"/> has every address bound,
    /// in this order. Required.
    /// </summary>
    public required IReadOnlyList<NodeAddress> Listen { get; init; }

    /// <summary>The transports the node listens and connects with, by scheme. Defaults to every transport of this build.</summary>
    internal TransportRegistry Transports { get; init; } = TransportRegistry.Default;

    /// <summary>
    /// This node's certificate, key and tree CA, for its <c>tls+</c> listeners and parent (docs/tls.md).
    /// Its key is then the node key (no <c>node.key</c> is read or written). Null: no TLS.
    /// </summary>
    public TlsOptions? Tls { get; init; }

    /// <summary>
    /// Parts of the node that serve requests of their own (<see cref="INodeModule"/>); each adds its
    /// entries to the node's request table when the node starts. Defaults to none.
    /// </summary>
    internal IReadOnlyList<INodeModule> Modules { get; init; } = [];

    /// <summary>The newest protocol version the node speaks (tests: a node of an older version).</summary>
    internal ushort MaxProtocolVersion { get; init; } = ProtocolLimits.MaxVersion;

    /// <summary>How often the revocation list file (<see cref="TlsOptions.RevocationListFile"/>) is looked at for a change.</summary>
    internal TimeSpan RevocationPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How often a relay sends its parent a TREE_REPORT (docs/tree.md): itself and a bounded summary
    /// of its subtree. Between 100 ms and 1 min. Defaults to <see cref="DefaultTreeReportInterval"/>.
    /// </summary>
    internal TimeSpan TreeReportInterval { get; init; } = DefaultTreeReportInterval;

    /// <summary>
    /// The default of <see cref="TreeReportInterval"/>: 5 s. A report costs its parent a request
    /// (about 0.5 ms of CPU on a busy machine, most of it the link's, not the report's); every 5 s,
    /// 64 relays cost a root under 1% of a core (docs/performance.md, "The tree report").
    /// </summary>
    internal static readonly TimeSpan DefaultTreeReportInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The name this node registers at its rendezvous (<c>--node-id</c>), so that others reach it
    /// behind its NAT as <c>rudp://NAME</c> (docs/nat.md); it needs a rudp listener and a
    /// <see cref="Rendezvous"/> (a relay's defaults to its parent). Null (the default): none.
    /// </summary>
    public string? NodeName { get; init; }

    /// <summary>
    /// The rendezvous that registers <see cref="NodeName"/> and finds the nodes named
    /// <c>rudp://NAME</c> (a parent behind NAT). Null: a relay with a <see cref="NodeName"/> uses its
    /// parent when that is a <c>rudp://HOST:PORT</c> address; otherwise the node takes part in no NAT traversal.
    /// </summary>
    public NodeAddress? Rendezvous { get; init; }

    /// <summary>
    /// Whether a node with a <see cref="NodeName"/> asks its gateway to forward its rudp port
    /// (NAT-PMP, PCP and UPnP-IGD at once; docs/nat-port-mapping.md) and gives dialers the mapping
    /// (a <c>mapped</c> path, from any NAT). Defaults to false: nothing is sent to the gateway.
    /// </summary>
    public bool PortMapping { get; init; }

    /// <summary>Whether the node serves rendezvous requests for its tree (docs/nat.md). Defaults to true for the root, false for a relay.</summary>
    public bool? ServesRendezvous { get; init; }

    /// <summary>The rendezvous <see cref="NodeName"/> registers at and names are resolved by, with the default applied; null for none.</summary>
    internal NodeAddress? EffectiveRendezvous =>
        Rendezvous ?? (NodeName is not null && Parent is { Scheme: "rudp" or "tls+rudp", Port: > 0 } parent ? parent : null);

    /// <summary>The parent's address; null for the root.</summary>
    public NodeAddress? Parent { get; init; }

    /// <summary>
    /// The node id the parent must prove (docs/protocol.md, "Node identity"): a parent with another
    /// id is refused with <see cref="OmniStoreError.Unauthorized"/> and the relay keeps trying.
    /// Null: any node at <see cref="Parent"/>. Defaults to null.
    /// </summary>
    public NodeId? ParentNodeId { get; init; }

    /// <summary>
    /// The node's site name, reported in handshakes, logs, status and metrics: at most 64 ASCII
    /// letters, digits, '-', '.', '_' and ':' (docs/protocol.md, "Handshake"). Defaults to the host
    /// name, with any other character replaced by '-'.
    /// </summary>
    public string Site { get; init; } = SiteName.FromHostName(Environment.MachineName);

    /// <summary>The store directory, which also keeps the node's key (<c>node.key</c>), so its id survives restarts. Required.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// A relay's cache size in bytes (required for a relay); a root's capacity (0 = unlimited).
    /// Defaults to 0.
    /// </summary>
    public long CacheSize { get; init; }

    /// <summary>
    /// How often a relay checkpoints its cache in the background when something was written since its
    /// last checkpoint: a relay killed without warning (SIGKILL, out of memory, power cut of a
    /// machine whose disk kept its page cache) reopens with everything cached until its last
    /// checkpoint, and fetches only the rest again. <see cref="TimeSpan.Zero"/>: none by time. The
    /// root commits every Put and Delete before acknowledging them and takes none. Defaults to 30 s.
    /// </summary>
    public TimeSpan CheckpointInterval { get; init; } = ContentStoreOptions.DefaultCheckpointInterval;

    /// <summary>
    /// A relay also checkpoints its cache once this many bytes were written to it since its last
    /// checkpoint, so a fast fill loses at most this much to a crash. 0: none by bytes. Defaults to
    /// 256 MiB.
    /// </summary>
    public long CheckpointBytes { get; init; } = ContentStoreOptions.DefaultCheckpointBytes;

    /// <summary>
    /// How many of its last changes the root keeps for watchers that resume (docs/watch.md,
    /// "History"): one further behind is reset (it lists the names again). Unused at a relay.
    /// Defaults to 65,536.
    /// </summary>
    public int ChangeHistory { get; init; } = ContentStoreOptions.DefaultChangeHistory;

    /// <summary>The shared secret peers must prove they know; null for none. Defaults to null.</summary>
    public byte[]? Secret { get; init; }

    /// <summary>
    /// The tree's relay secret: a relay proves it to its parent, and a node takes a child that says
    /// it is a relay as one only if it proves it (docs/protocol.md, "Handshake"). Keep it apart from
    /// <see cref="Secret"/>, which every client holds: a relay is waited for on every rebinding and
    /// sent every broadcast chunk, so whoever holds this secret can slow every Put down. Null: this
    /// node proves none, and accepts no relays unless <see cref="AcceptRelaysWithoutSecret"/>.
    /// Defaults to null.
    /// </summary>
    public byte[]? RelaySecret { get; init; }

    /// <summary>
    /// Insecure, for trusted networks only: take any child that says it is a relay as one, without
    /// a relay secret. Any client can then hold up every Put by up to <see cref="UpdateTimeout"/>
    /// (once per <see cref="LateRelayCooldown"/>) and receive every broadcast. Defaults to false.
    /// </summary>
    public bool AcceptRelaysWithoutSecret { get; init; }

    /// <summary>Chunk requests a relay keeps in flight toward its parent for one prefetch. Defaults to 16.</summary>
    public int PrefetchWindow { get; init; } = 16;

    /// <summary>The default of <see cref="BindingCacheSize"/>.</summary>
    public const int DefaultBindingCacheSize = 65_536;

    /// <summary>
    /// How many names a relay keeps the binding of in memory (each also stays in its store while the
    /// cache keeps it); others are asked of the parent again. Defaults to <see cref="DefaultBindingCacheSize"/>.
    /// </summary>
    public int BindingCacheSize { get; init; } = DefaultBindingCacheSize;

    /// <summary>
    /// How long the root waits for a relay's subtree to apply a binding update before it disconnects
    /// that relay. A relay forwarding its parent's update waits for its own relays half as long, so
    /// that a late grandchild is cut off before its parent's deadline and does not get a relay that
    /// did its part cut off too; in a tree more than two relays deep, give each lower level a shorter
    /// timeout. Defaults to 10 s.
    /// </summary>
    public TimeSpan UpdateTimeout { get; init; } = DefaultUpdateTimeout;

    /// <summary>The default of <see cref="UpdateTimeout"/>.</summary>
    public static readonly TimeSpan DefaultUpdateTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The default of <see cref="LateRelayCooldown"/>.</summary>
    public static readonly TimeSpan DefaultLateRelayCooldown = TimeSpan.FromSeconds(30);

    /// <summary>The default of <see cref="MaxLateRelayCooldown"/>.</summary>
    public static readonly TimeSpan DefaultMaxLateRelayCooldown = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a relay that missed an update deadline is refused (by its address) before it may
    /// reconnect, so that a late relay holds up at most one Put per cooldown; doubled on each repeat
    /// up to <see cref="MaxLateRelayCooldown"/>, and forgotten after twice that without one. A relay
    /// that is refused serves no name's binding meanwhile: its clients move to their next address.
    /// Defaults to 30 s.
    /// </summary>
    public TimeSpan LateRelayCooldown { get; init; } = DefaultLateRelayCooldown;

    /// <summary>The longest cooldown of a relay that keeps missing update deadlines (see <see cref="LateRelayCooldown"/>). Defaults to 10 min.</summary>
    public TimeSpan MaxLateRelayCooldown { get; init; } = DefaultMaxLateRelayCooldown;

    /// <summary>
    /// The most memory all connections of the node may hold together for messages they receive and
    /// answers they send (see <see cref="Protocol.MemoryBudget"/>). Past it, the connection holding
    /// the most unfinished messages (or unread answers) is closed, or reading waits. Defaults to a
    /// quarter of the memory the process may use (a container's limit or <c>DOTNET_GCHeapHardLimit</c>
    /// included), at most 1 GiB.
    /// </summary>
    public long MemoryBudget { get; init; } = Protocol.MemoryBudget.DefaultLimit;

    /// <summary>
    /// Bytes of received messages one connection may hold (<see cref="Protocol.ConnectionLimits.MaxReceiveBytes"/>),
    /// at most <see cref="MemoryBudget"/>. Raising it lets one peer hold more of the budget. Defaults to 128 MiB.
    /// </summary>
    public long ConnectionReceiveBytes { get; init; } = Protocol.ConnectionLimits.Default.MaxReceiveBytes;

    /// <summary>Bytes of answers one connection may have in progress (<see cref="Protocol.ConnectionLimits.MaxSendBytes"/>). Defaults to 32 MiB.</summary>
    public long ConnectionSendBytes { get; init; } = Protocol.ConnectionLimits.Default.MaxSendBytes;

    /// <summary>How long a send may wait for a peer that reads nothing before its connection is closed. Defaults to 60 s.</summary>
    public TimeSpan SendTimeout { get; init; } = Protocol.ConnectionLimits.Default.SendTimeout;

    /// <summary>The default of <see cref="MaxUpstreamFetchesPerChild"/>.</summary>
    public const int DefaultMaxUpstreamFetchesPerChild = 16;

    /// <summary>
    /// How many requests to the parent (chunk, manifest and name fetches, prefetches' included) the
    /// requests of one child connection may have in flight at a relay; more wait for one to finish.
    /// A relay below counts as one child. Defaults to <see cref="DefaultMaxUpstreamFetchesPerChild"/>.
    /// </summary>
    public int MaxUpstreamFetchesPerChild { get; init; } = DefaultMaxUpstreamFetchesPerChild;

    /// <summary>The default of <see cref="UpstreamMissRate"/>.</summary>
    public const double DefaultUpstreamMissRate = 100;

    /// <summary>
    /// How many misses per second one child connection may cause at a relay on average: requests
    /// the relay had to ask its parent about and the parent answered with an error (mostly ids and
    /// names that do not exist). Beyond it (and <see cref="UpstreamMissBurst"/>) the child's requests
    /// that need the parent fail at once with <see cref="OmniStoreError.Unavailable"/> ("too many
    /// misses") until its allowance refills; other children are not affected, and reads of what
    /// exists cost nothing here. Defaults to <see cref="DefaultUpstreamMissRate"/>.
    /// </summary>
    public double UpstreamMissRate { get; init; } = DefaultUpstreamMissRate;

    /// <summary>The default of <see cref="UpstreamMissBurst"/>.</summary>
    public const int DefaultUpstreamMissBurst = 100;

    /// <summary>
    /// How many misses one child connection may cause at once before <see cref="UpstreamMissRate"/>
    /// applies (the depth of its token bucket). Defaults to <see cref="DefaultUpstreamMissBurst"/>.
    /// </summary>
    public int UpstreamMissBurst { get; init; } = DefaultUpstreamMissBurst;

    /// <summary>
    /// How long a relay remembers that its parent has no such chunk, manifest or name, answering
    /// NotFound itself meanwhile. Every binding update and every chunk or manifest written through
    /// the relay forgets what it remembers, so an object Put anywhere reads back at once;
    /// <see cref="TimeSpan.Zero"/> remembers nothing. Defaults to 5 s.
    /// </summary>
    public TimeSpan MissCacheTime { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often the node reads and checks every chunk of its store (docs/storage.md, "Damaged
    /// chunks"): a root repairs what it finds damaged from its relays' copies, a relay drops it and
    /// fetches a verified copy from its parent. At least a minute; null verifies only when a client
    /// asks (<c>omnistore verify --node</c>). Defaults to null.
    /// </summary>
    public TimeSpan? VerifyInterval { get; init; }

    /// <summary>The shortest <see cref="VerifyInterval"/> (tests shorten it).</summary>
    internal TimeSpan MinVerifyInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The default of <see cref="MissCacheSize"/>.</summary>
    public const int DefaultMissCacheSize = 16_384;

    /// <summary>
    /// How many misses of each kind (chunks, manifests, names) a relay remembers; the oldest is
    /// forgotten first. Defaults to <see cref="DefaultMissCacheSize"/>.
    /// </summary>
    public int MissCacheSize { get; init; } = DefaultMissCacheSize;


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
    /// starts (<see cref="Internal.ConnectionAdmission.DescriptorCeiling"/>: the descriptors free
    /// then, less 128 or an eighth of them for the store, the status listener and the runtime, at
    /// most 16,384; about 750 under the usual soft limit of 1024). A value above that ceiling is
    /// lowered to it, with a warning: a process out of descriptors can be aborted by the runtime.
    /// Defaults to null.
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

    /// <summary>The per-connection limits these options set, without the node's budget (the node adds its own).</summary>
    internal Protocol.ConnectionLimits ConnectionLimits => new()
    {
        MaxReceiveBytes = Math.Min(ConnectionReceiveBytes, MemoryBudget), // one connection cannot hold more than all of them
        MaxSendBytes = ConnectionSendBytes,
        SendTimeout = SendTimeout,
    };
    internal ConnectionLiveness Liveness => new(KeepAliveInterval, IdleTimeout);

    internal ContentStoreOptions StoreOptions => new()
    {
        Directory = DataDirectory,
        Mode = IsRoot ? StoreMode.Pinned : StoreMode.Cache,
        Capacity = CacheSize,

        // A relay's memory goes to serving its children; two log pages (64 MiB) are enough for a
        // cache whose reads mostly come from the OS page cache anyway.
        LogMemory = IsRoot ? 0 : ContentStoreOptions.MinimalLogMemory,
        CheckpointInterval = CheckpointInterval,
        CheckpointBytes = CheckpointBytes,
        ChangeHistory = ChangeHistory,
    };

    /// <summary>Throws if a setting is missing or out of range; the message names the setting.</summary>
    public void Validate(string argumentName = "options")
    {
        ValidateListen(argumentName);

        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException($"{nameof(DataDirectory)} is required.", argumentName);
        }

        if (NodeName is not null && Nat.Rendezvous.RendezvousMessages.CheckName(NodeName) is { } nameProblem)
        {
            throw new ArgumentException($"{nameof(NodeName)}: {nameProblem}.", argumentName);
        }

        if (NodeName is not null && EffectiveRendezvous is null)
        {
            throw new ArgumentException($"{nameof(NodeName)} '{NodeName}' is registered at a rendezvous: give {nameof(Rendezvous)} (--rendezvous rudp://HOST:PORT).", argumentName);
        }

        if (NodeName is not null && !Listen.Any(a => a.Scheme is "rudp" or "tls+rudp"))
        {
            throw new ArgumentException($"{nameof(NodeName)} '{NodeName}' is reached over rudp: the node needs a rudp:// (or tls+rudp://) listen address.", argumentName);
        }

        if (Rendezvous is { } rendezvous && !Nat.NatOptions.IsRendezvousAddress(rendezvous))
        {
            throw new ArgumentException($"{nameof(Rendezvous)}: a rendezvous is a rudp://HOST:PORT (or tls+rudp://HOST:PORT) address, not '{rendezvous}'.", argumentName);
        }

        if (Rendezvous is { Scheme: "tls+rudp" } && Tls is null)
        {
            throw new ArgumentException($"{nameof(Rendezvous)} {Rendezvous} is a TLS address: the node needs {nameof(Tls)} (--tls-cert, --tls-key, --tls-ca).", argumentName);
        }

        if (Parent is { Scheme: "rudp" or "tls+rudp", Port: 0 } named && EffectiveRendezvous is null)
        {
            throw new ArgumentException($"{nameof(Parent)} {named} names a node behind NAT, found through a rendezvous: give {nameof(Rendezvous)} (--rendezvous rudp://HOST:PORT).", argumentName);
        }

        if (CacheSize < 0)
        {
            throw new ArgumentOutOfRangeException(argumentName, CacheSize, $"{nameof(CacheSize)} must not be negative.");
        }

        if (!IsRoot && CacheSize <= 0)
        {
            throw new ArgumentException($"A relay needs a {nameof(CacheSize)}.", argumentName);
        }

        long minStore = 4L << StoreOptions.DataPageSizeBits;
        if (CacheSize != 0 && CacheSize < minStore)
        {
            throw new ArgumentOutOfRangeException(argumentName, CacheSize, $"{nameof(CacheSize)} must be at least {minStore} bytes (four log pages of the largest chunk).");
        }

        if (string.IsNullOrEmpty(Site))
        {
            throw new ArgumentException($"{nameof(Site)}: a node needs a site name.", argumentName);
        }

        if (!SiteName.IsValid(Site, out string? problem))
        {
            throw new ArgumentException($"{nameof(Site)}: {problem}.", argumentName);
        }

        AtLeast(PrefetchWindow, 1, nameof(PrefetchWindow), argumentName);
        AtLeast(BindingCacheSize, 1, nameof(BindingCacheSize), argumentName);
        AtLeast(MemoryBudget, 16L << 20, nameof(MemoryBudget), argumentName);
        AtLeast(ConnectionReceiveBytes, 4L << 20, nameof(ConnectionReceiveBytes), argumentName);
        AtLeast(ConnectionSendBytes, 1L << 20, nameof(ConnectionSendBytes), argumentName);
        if (SendTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(argumentName, SendTimeout, $"{nameof(SendTimeout)} must be more than 0.");
        }

        ConnectionLimits.Validate(argumentName);
        if (RelaySecret is not null && OmniStore.Internal.SecretFile.Problem(RelaySecret, nameof(RelaySecret)) is { } relayProblem)
        {
            throw new ArgumentException($"{relayProblem}; use null for no relay secret.", argumentName);
        }

        if (Secret is not null && OmniStore.Internal.SecretFile.Problem(Secret, nameof(Secret)) is { } secretProblem)
        {
            throw new ArgumentException($"{secretProblem}; use null for no shared secret.", argumentName);
        }

        if (RelaySecret is not null && Secret is not null && RelaySecret.AsSpan().SequenceEqual(Secret))
        {
            throw new ArgumentException($"The {nameof(RelaySecret)} equals the shared {nameof(Secret)}, which every client holds: it would keep no client from being a relay.", argumentName);
        }

        if (UpdateTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(argumentName, UpdateTimeout, $"{nameof(UpdateTimeout)} must be more than 0.");
        }

        if (LateRelayCooldown <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(argumentName, LateRelayCooldown, $"{nameof(LateRelayCooldown)} must be more than 0.");
        }

        if (MaxLateRelayCooldown < LateRelayCooldown)
        {
            throw new ArgumentOutOfRangeException(argumentName, MaxLateRelayCooldown, $"{nameof(MaxLateRelayCooldown)} must be at least {nameof(LateRelayCooldown)} ({LateRelayCooldown.TotalSeconds} s).");
        }

        AtLeast(MaxUpstreamFetchesPerChild, 1, nameof(MaxUpstreamFetchesPerChild), argumentName);
        AtLeast(UpstreamMissBurst, 1, nameof(UpstreamMissBurst), argumentName);
        if (!(UpstreamMissRate > 0 && double.IsFinite(UpstreamMissRate)))
        {
            throw new ArgumentOutOfRangeException(argumentName, UpstreamMissRate, $"{nameof(UpstreamMissRate)} must be a positive number of misses per second.");
        }

        if (VerifyInterval is { } every && every < MinVerifyInterval)
        {
            throw new ArgumentOutOfRangeException(argumentName, every, $"{nameof(VerifyInterval)} must be at least {MinVerifyInterval.TotalSeconds} s (a verification reads the whole store).");
        }

        if (MissCacheTime < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(argumentName, MissCacheTime, $"{nameof(MissCacheTime)} must not be negative (zero remembers nothing).");
        }

        AtLeast(MissCacheSize, 1, nameof(MissCacheSize), argumentName);
        if (MaxConnections is < 1)
        {
            throw new ArgumentOutOfRangeException(argumentName, MaxConnections, $"{nameof(MaxConnections)} must be at least 1 (or null for the default).");
        }

        AtLeast(MaxConnectionsPerAddress, 1, nameof(MaxConnectionsPerAddress), argumentName);
        AtLeast(MaxPendingHandshakes, 1, nameof(MaxPendingHandshakes), argumentName);
        if (HandshakeTimeout <= TimeSpan.Zero || HandshakeTimeout > MaxHandshakeTimeout)
        {
            throw new ArgumentOutOfRangeException(argumentName, HandshakeTimeout, $"{nameof(HandshakeTimeout)} must be more than 0 and at most {MaxHandshakeTimeout.TotalSeconds} s.");
        }

        if (LoggerFactory is null)
        {
            throw new ArgumentNullException(argumentName, $"{nameof(LoggerFactory)} must not be null (NullLoggerFactory.Instance logs nothing).");
        }

        Liveness.Validate(argumentName);
        StoreOptions.Validate(argumentName);
        if (TreeReportInterval < TimeSpan.FromMilliseconds(100) || TreeReportInterval > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentOutOfRangeException(argumentName, TreeReportInterval, $"{nameof(TreeReportInterval)} must be between 100 ms and 1 min.");
        }
    }

    private void ValidateListen(string argumentName)
    {
        if (Listen is null || Listen.Count == 0)
        {
            throw new ArgumentException($"{nameof(Listen)} is required: at least one address the node listens on.", argumentName);
        }

        if (Listen.Count > MaxListenAddresses)
        {
            throw new ArgumentOutOfRangeException(argumentName, Listen.Count, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{nameof(Listen)} holds {Listen.Count} addresses; at most {MaxListenAddresses} are allowed."));
        }

        for (int i = 0; i < Listen.Count; i++)
        {
            if (Listen[i] is null)
            {
                throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{nameof(Listen)}[{i}] is null."), argumentName);
            }

            // Parsed addresses are canonical, so two spellings of one are equal: twice the same is a
            // typo for another, and would fail to bind (or, with port 0, bind a port nobody asked for).
            for (int first = 0; first < i; first++)
            {
                if (Listen[first] == Listen[i])
                {
                    throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{nameof(Listen)} holds {Listen[i]} twice ([{first}] and [{i}])."), argumentName);
                }
            }
        }
    }

    private static void AtLeast(long value, long minimum, string setting, string argumentName)
    {
        if (value < minimum)
        {
            throw new ArgumentOutOfRangeException(argumentName, value, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{setting} must be at least {minimum}."));
        }
    }
}
