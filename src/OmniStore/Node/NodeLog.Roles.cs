using Microsoft.Extensions.Logging;

namespace OmniStore.Node;

/// <summary>Log messages about roles, late relays and rights; event ids 3040-3049.</summary>
internal static partial class NodeLog
{
    [LoggerMessage(3040, LogLevel.Warning, "Relay {Peer} at {Address} missed an update deadline; relays from {Address} are refused for {CooldownSeconds} s")]
    public static partial void LateRelayRefused(ILogger logger, string peer, string address, double cooldownSeconds);

    [LoggerMessage(3041, LogLevel.Warning, "This relay no longer answers names from what it remembers: {Reason}; it will once its parent takes it back")]
    public static partial void BindingsDistrusted(ILogger logger, string reason);

    [LoggerMessage(3042, LogLevel.Information, "Connected to parent {Parent} again: answering names again")]
    public static partial void BindingsTrustedAgain(ILogger logger, string parent);

    [LoggerMessage(3043, LogLevel.Information, "Accepting as relays: {Policy}")]
    public static partial void RelayPolicy(ILogger logger, string policy);

    [LoggerMessage(3044, LogLevel.Warning, "Refused {Peer}: {Reason}")]
    public static partial void Unauthorized(ILogger logger, string peer, string reason);

    [LoggerMessage(3067, LogLevel.Information, "Took revocation list number {Number} ({Count} revoked)")]
    public static partial void RevocationsTaken(ILogger logger, string number, int count);

    [LoggerMessage(3068, LogLevel.Warning, "Closed {Peer}: its certificate '{Name}' is revoked")]
    public static partial void RevokedPeerClosed(ILogger logger, string peer, string name);

    [LoggerMessage(3069, LogLevel.Warning, "Kept the revocation list held: {Source}: {Reason}")]
    public static partial void RevocationsRefused(ILogger logger, string source, string reason);

    [LoggerMessage(3070, LogLevel.Warning, "Could not send the revocation list to {Peer}: {Reason}; it gets it when it reconnects")]
    public static partial void RevocationsNotSent(ILogger logger, string peer, string reason);
}
