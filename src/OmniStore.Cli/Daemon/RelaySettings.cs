using Microsoft.Extensions.Logging;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Cli.Daemon;

/// <summary>What <c>omnistore relay</c> was asked to run, checked by the command line parser.</summary>
/// <param name="Listen">Where the node listens for children: one address or more.</param>
/// <param name="Parent">The parent; null for the root.</param>
/// <param name="Site">The site name it reports.</param>
/// <param name="DataDirectory">Its store's directory.</param>
/// <param name="CacheSize">A relay's cache size; the root's capacity (0: no limit).</param>
/// <param name="SecretFile">The file holding the tree's shared secret, if any.</param>
/// <param name="StatusListen">Where to serve /status and /metrics, if anywhere.</param>
/// <param name="LogLevel">The least severe log level written.</param>
/// <param name="ShutdownGrace">How long in-flight requests may take to finish after SIGINT or SIGTERM.</param>
internal sealed record RelaySettings(
    IReadOnlyList<NodeAddress> Listen,
    NodeAddress? Parent,
    string Site,
    string DataDirectory,
    long CacheSize,
    string? SecretFile,
    Uri? StatusListen,
    LogLevel LogLevel,
    TimeSpan ShutdownGrace)
{
    /// <summary>The OTLP collector to export metrics and spans to (<c>--otlp</c>); null: the one <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names, if any (docs/observability.md).</summary>
    public Uri? Otlp { get; init; }

    /// <summary>The node id the parent must prove (<c>--parent URI#NODEID</c>); null for whichever node answers there.</summary>
    public NodeId? ParentNodeId { get; init; }

    /// <summary>The name registered at the rendezvous (<c>--node-id</c>); null for none.</summary>
    public string? NodeName { get; init; }

    /// <summary>The rendezvous (<c>--rendezvous</c>); null for the default.</summary>
    public NodeAddress? Rendezvous { get; init; }

    /// <summary>Whether to ask the gateway for a port mapping (<c>--port-mapping</c>).</summary>
    public bool PortMapping { get; init; }

    /// <summary>Whether <see cref="DataDirectory"/> is the default (<c>--data-dir</c> not given), for the message when it cannot be created.</summary>
    public bool DataDirectoryIsDefault { get; init; }

    /// <summary>The file holding the tree's relay secret, if any (<c>--relay-secret-file</c>, <c>$OMNISTORE_RELAY_SECRET_FILE</c>).</summary>
    public string? RelaySecretFile { get; init; }

    /// <summary>The node's certificate, key and tree CA (<c>--tls-cert</c>, <c>--tls-key</c>, <c>--tls-ca</c>, <c>--tls-crl</c>), if given.</summary>
    public TlsOptions? Tls { get; init; }

    /// <summary>Insecure: accept any child that says it is a relay (<c>--open-relays</c>).</summary>
    public bool OpenRelays { get; init; }

    /// <summary>How long the root waits for a relay to apply an update (<c>--update-timeout</c>).</summary>
    public TimeSpan UpdateTimeout { get; init; } = TreeNodeOptions.DefaultUpdateTimeout;

    /// <summary>How long a relay that missed an update deadline is refused, at first (<c>--late-relay-cooldown</c>).</summary>
    public TimeSpan LateRelayCooldown { get; init; } = TreeNodeOptions.DefaultLateRelayCooldown;

    /// <summary>How often the node verifies its store (<see cref="TreeNodeOptions.VerifyInterval"/>); null: never on its own.</summary>
    public TimeSpan? VerifyInterval { get; init; }

    /// <summary>The longest such cooldown (<c>--max-late-relay-cooldown</c>).</summary>
    public TimeSpan MaxLateRelayCooldown { get; init; } = TreeNodeOptions.DefaultMaxLateRelayCooldown;

    /// <summary>A relay: upstream requests one child connection's requests may have in flight (<see cref="TreeNodeOptions.MaxUpstreamFetchesPerChild"/>).</summary>
    public int ChildUpstreamLimit { get; init; } = TreeNodeOptions.DefaultMaxUpstreamFetchesPerChild;

    /// <summary>A relay: misses per second one child connection may cause (<see cref="TreeNodeOptions.UpstreamMissRate"/>).</summary>
    public int ChildMissRate { get; init; } = (int)TreeNodeOptions.DefaultUpstreamMissRate;

    /// <summary>A relay: misses one child connection may cause at once (<see cref="TreeNodeOptions.UpstreamMissBurst"/>).</summary>
    public int ChildMissBurst { get; init; } = TreeNodeOptions.DefaultUpstreamMissBurst;

    /// <summary>The most connections from children at once; null derives it from the descriptor limit.</summary>
    public int? MaxConnections { get; init; }

    /// <summary>The most connections from one address at once.</summary>
    public int MaxConnectionsPerAddress { get; init; } = TreeNodeOptions.DefaultMaxConnectionsPerAddress;

    /// <summary>The most connections in their handshake at once.</summary>
    public int MaxPendingHandshakes { get; init; } = TreeNodeOptions.DefaultMaxPendingHandshakes;

    /// <summary>How long a new connection may take to complete its handshake.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TreeNodeOptions.MaxHandshakeTimeout;

    /// <summary>Silence from a peer after which the node sends it a PING.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = ConnectionLiveness.DefaultKeepAliveInterval;

    /// <summary>Silence (in frames) after which a peer is declared dead.</summary>
    public TimeSpan IdleTimeout { get; init; } = ConnectionLiveness.DefaultIdleTimeout;

    /// <summary>The node's memory budget for its connections (<c>--memory-budget</c>); null for the default.</summary>
    public long? MemoryBudget { get; init; }

    /// <summary>Bytes of received messages one connection may hold (<c>--max-connection-receive</c>); null for the default.</summary>
    public long? MaxConnectionReceive { get; init; }

    /// <summary>A relay: how often its cache is checkpointed when written to (<c>--checkpoint-interval</c>); zero for never by time.</summary>
    public TimeSpan CheckpointInterval { get; init; } = Storage.ContentStoreOptions.DefaultCheckpointInterval;

    /// <summary>A relay: bytes written to its cache after which it is checkpointed (<c>--checkpoint-bytes</c>); zero for never by bytes.</summary>
    public long CheckpointBytes { get; init; } = Storage.ContentStoreOptions.DefaultCheckpointBytes;

    /// <summary>How the log is written (<c>--log-format</c>).</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Text;

    /// <summary>How often the activity summary is logged (<c>--log-summary-interval</c>); zero for never.</summary>
    public TimeSpan LogSummaryInterval { get; init; } = DefaultLogSummaryInterval;

    /// <summary>Where the settings came from, in one line for the start of the log; null when only from the command line.</summary>
    public string? ConfigurationSources { get; init; }

    /// <summary>The activity summary's default interval: a minute.</summary>
    public static readonly TimeSpan DefaultLogSummaryInterval = TimeSpan.FromMinutes(1);
}
