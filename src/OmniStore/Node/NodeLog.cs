using Microsoft.Extensions.Logging;
using OmniStore.Internal;

namespace OmniStore.Node;

/// <summary>
/// Log messages of the node layer; event ids 3000-3099. Arguments that hold what a peer chose (its
/// description, its error text, a name) are <see cref="PeerText"/>: written escaped, one line each.
/// </summary>
internal static partial class NodeLog
{
    [LoggerMessage(3000, LogLevel.Information, "Connected to parent {Parent} ({Peer})")]
    public static partial void ParentConnected(ILogger logger, string parent, PeerText peer);

    [LoggerMessage(3001, LogLevel.Warning, "Lost the connection to parent {Parent}; reconnecting")]
    public static partial void ParentLost(ILogger logger, string parent);

    [LoggerMessage(3002, LogLevel.Warning, "Parent {Parent} unreachable ({Reason}); retrying in {DelayMs} ms")]
    public static partial void ParentUnreachable(ILogger logger, string parent, PeerText reason, double delayMs);

    [LoggerMessage(3003, LogLevel.Information, "{Role} {NodeId} listening on {Address} (site {Site}, store {Directory})")]
    public static partial void Listening(ILogger logger, string role, string nodeId, string address, string site, string directory);

    /// <summary>A child connected: a relay at Information, a client (routine, and many) at Debug; the daemon's summary counts them.</summary>
    [LoggerMessage(EventId = 3004, Message = "Accepted {Peer} from {EndPoint}")]
    public static partial void ChildConnected(ILogger logger, LogLevel level, PeerText peer, string? endPoint);

    /// <summary>A child disconnected, at the level its connection was logged at.</summary>
    [LoggerMessage(EventId = 3005, Message = "{Peer} disconnected")]
    public static partial void ChildDisconnected(ILogger logger, LogLevel level, PeerText peer);

    [LoggerMessage(3006, LogLevel.Warning, "Refused a connection from {EndPoint}: {Reason}")]
    public static partial void ChildRefused(ILogger logger, string? endPoint, PeerText reason);

    [LoggerMessage(3007, LogLevel.Warning, "Child {Peer} did not apply an update ({Reason}); disconnecting it so that it drops its cached bindings")]
    public static partial void UpdateFailed(ILogger logger, PeerText peer, PeerText reason);

    /// <summary>At Debug: one a Put, routine under load; the daemon's summary counts requests.</summary>
    [LoggerMessage(3008, LogLevel.Debug, "Bound {Name} to version {Version}")]
    public static partial void Bound(ILogger logger, PeerText name, long version);

    [LoggerMessage(3071, LogLevel.Debug, "Unbound {Name}: its version {Version} expired")]
    public static partial void Expired(ILogger logger, PeerText name, long version);

    [LoggerMessage(3009, LogLevel.Warning, "Accepting a connection failed: {Problem}; the node refuses connections until accepting works again (next try in {DelayMs} ms)")]
    public static partial void AcceptFailed(ILogger logger, string problem, double delayMs);

    [LoggerMessage(3010, LogLevel.Information, "Accepting connections again, after {Seconds} s and {Failures} failed accepts")]
    public static partial void AcceptingAgain(ILogger logger, double seconds, long failures);

    [LoggerMessage(3011, LogLevel.Warning, "Refused a connection from {EndPoint} before its handshake: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, string? endPoint, string reason);

    [LoggerMessage(3012, LogLevel.Information, "Accepting at most {MaxConnections} connections, {MaxPerAddress} from one address, {MaxHandshakes} in their handshake ({Descriptors})")]
    public static partial void ConnectionLimits(ILogger logger, int maxConnections, int maxPerAddress, int maxHandshakes, string descriptors);

    [LoggerMessage(3013, LogLevel.Error, "Accepting connections failed unexpectedly; the node carries on accepting")]
    public static partial void AcceptLoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(3014, LogLevel.Warning, "{Count} more lines like the next were not written, to keep the log readable")]
    public static partial void Suppressed(ILogger logger, int count);

    [LoggerMessage(3015, LogLevel.Warning, "The limit of {Configured} connections is more than the descriptors allow ({Descriptors}, some kept for the store, the status listener and the runtime): accepting at most {MaxConnections}; raise the descriptor limit to accept more")]
    public static partial void ConnectionLimitAboveDescriptors(ILogger logger, int configured, int maxConnections, string descriptors);

    [LoggerMessage(3060, LogLevel.Warning, "Damaged chunk {ChunkId} repaired from the verified copy of {Peer}")]
    public static partial void ChunkRepairedFrom(ILogger logger, string chunkId, PeerText peer);

    [LoggerMessage(3061, LogLevel.Information, "No copy of damaged chunk {ChunkId} from {Peer}: {Reason}")]
    public static partial void CopyNotFrom(ILogger logger, string chunkId, PeerText peer, PeerText reason);

    [LoggerMessage(3062, LogLevel.Information, "Verified the store: {Chunks} chunks, {Bytes} bytes; {Damaged} damaged, {Repaired} repaired from a verified copy, {Left} left damaged (objects: {Objects})")]
    public static partial void Verified(ILogger logger, long chunks, long bytes, int damaged, int repaired, int left, PeerText objects);

    [LoggerMessage(3063, LogLevel.Error, "Verifying the store failed: {Reason}; the next verification runs at the next interval")]
    public static partial void VerifyFailed(ILogger logger, string reason);

    [LoggerMessage(3064, LogLevel.Warning, "Damaged chunk {ChunkId} dropped from the cache and fetched again, verified, from the parent")]
    public static partial void ChunkRefetched(ILogger logger, string chunkId);

    [LoggerMessage(3065, LogLevel.Information, "Damaged chunk {ChunkId} dropped from the cache and not fetched again: {Reason}; a later request fetches it")]
    public static partial void ChunkNotRefetched(ILogger logger, string chunkId, PeerText reason);

    [LoggerMessage(3066, LogLevel.Warning, "Chunk {ChunkId} arrived from parent {Parent} with bytes that do not match its id: not cached, and the children reading it were answered Corrupt")]
    public static partial void CorruptChunkFetched(ILogger logger, string chunkId, PeerText parent);
}
