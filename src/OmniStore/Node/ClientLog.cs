using Microsoft.Extensions.Logging;
using OmniStore.Internal;

namespace OmniStore.Node;

/// <summary>
/// Log messages of a connected client (<see cref="RemoteObjectService"/>); event ids 5000-5099.
/// Reasons may quote what a node sent, so they are <see cref="PeerText"/>: written escaped.
/// </summary>
internal static partial class ClientLog
{
    [LoggerMessage(5000, LogLevel.Warning, "Cannot use {Address}: {Reason}; trying {Next} next")]
    public static partial void AddressFailed(ILogger logger, string address, PeerText reason, string next);

    [LoggerMessage(5001, LogLevel.Warning, "Cannot use {Address}: {Reason}; no other address is left to try")]
    public static partial void LastAddressFailed(ILogger logger, string address, PeerText reason);

    [LoggerMessage(5002, LogLevel.Warning, "The connection to {Address} failed: {Reason}; moving to the next address")]
    public static partial void ConnectionFailed(ILogger logger, string address, PeerText reason);

    [LoggerMessage(5003, LogLevel.Information, "Connected to {Address} ({Peer})")]
    public static partial void Connected(ILogger logger, string address, PeerText peer);

    [LoggerMessage(5004, LogLevel.Information, "Moved from {Previous} to {Address} ({Peer}); failover {Count}")]
    public static partial void MovedTo(ILogger logger, string previous, string address, PeerText peer, int count);

    [LoggerMessage(5005, LogLevel.Information, "Moved back from {Previous} to {Address} ({Peer}), which answers again")]
    public static partial void Restored(ILogger logger, string previous, string address, PeerText peer);

    [LoggerMessage(5006, LogLevel.Warning, "A handler of the client's {Event} event failed")]
    public static partial void EventHandlerFailed(ILogger logger, Exception exception, string @event);
}
