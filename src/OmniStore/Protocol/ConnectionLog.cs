using Microsoft.Extensions.Logging;

namespace OmniStore.Protocol;

/// <summary>Log messages of the protocol layer; event ids 2000-2099.</summary>
internal static partial class ConnectionLog
{
    [LoggerMessage(2000, LogLevel.Warning, "Closing the connection to {Peer}: {Problem}")]
    public static partial void ProtocolViolation(ILogger logger, string peer, string problem);

    [LoggerMessage(2001, LogLevel.Information, "{Peer} is going away")]
    public static partial void GoAway(ILogger logger, string peer);

    [LoggerMessage(2002, LogLevel.Error, "Serving {Request} for {Peer} failed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string request, string peer);

    [LoggerMessage(2003, LogLevel.Information, "Closing the connection: {Reason}")]
    public static partial void PeerTimedOut(ILogger logger, string reason);
}
