using Microsoft.Extensions.Logging;
using OmniStore.Internal;

namespace OmniStore.Protocol;

/// <summary>
/// Log messages of the protocol layer; event ids 2000-2099. Arguments that hold what a peer chose
/// are <see cref="PeerText"/>: written escaped, one line each.
/// </summary>
internal static partial class ConnectionLog
{
    [LoggerMessage(2000, LogLevel.Warning, "Closing the connection to {Peer}: {Problem}")]
    public static partial void ProtocolViolation(ILogger logger, PeerText peer, PeerText problem);

    [LoggerMessage(2001, LogLevel.Information, "{Peer} is going away")]
    public static partial void GoAway(ILogger logger, PeerText peer);

    [LoggerMessage(2002, LogLevel.Error, "Serving {Request} for {Peer} failed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string request, PeerText peer);

    [LoggerMessage(2003, LogLevel.Information, "Closing the connection: {Reason}")]
    public static partial void PeerTimedOut(ILogger logger, string reason);

    [LoggerMessage(2004, LogLevel.Warning, "Disposed the connection to {Peer} with {Handlers} request handlers still running after {Seconds} s: they finish on their own, and their answers are dropped")]
    public static partial void DisposedWithHandlersRunning(ILogger logger, PeerText peer, int handlers, double seconds);
}
