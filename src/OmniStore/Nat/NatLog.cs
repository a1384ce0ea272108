using Microsoft.Extensions.Logging;
using OmniStore.Internal;

namespace OmniStore.Nat;

/// <summary>
/// Log messages of NAT traversal; event ids 6020-6099 (6000-6019 are port mapping's). What a peer chose (a name, its error text)
/// is <see cref="PeerText"/>: written escaped, one line each.
/// </summary>
internal static partial class NatLog
{
    [LoggerMessage(6020, LogLevel.Information, "Registered {Name} for {Peer} at {Reflexive}")]
    public static partial void Registered(ILogger logger, PeerText name, PeerText peer, string? reflexive);

    [LoggerMessage(6021, LogLevel.Debug, "Introduced {Dialer} to {Name} (session {Session})")]
    public static partial void Introduced(ILogger logger, PeerText dialer, PeerText name, long session);

    [LoggerMessage(6022, LogLevel.Information, "Relaying between {Dialer} and {Name} through {DialerSide} and {RegistrantSide}")]
    public static partial void Relaying(ILogger logger, PeerText dialer, PeerText name, string dialerSide, string registrantSide);

    [LoggerMessage(6023, LogLevel.Information, "Registered as {Name} at rendezvous {Rendezvous}; it sees this node at {Reflexive}")]
    public static partial void RegisteredHere(ILogger logger, string name, string rendezvous, string? reflexive);

    [LoggerMessage(6024, LogLevel.Warning, "Rendezvous {Rendezvous} unreachable ({Reason}); retrying in {DelayMs} ms")]
    public static partial void RendezvousUnreachable(ILogger logger, string rendezvous, PeerText reason, double delayMs);

    [LoggerMessage(6025, LogLevel.Information, "Reached {Name} at {Address} ({Path}) in {Milliseconds} ms")]
    public static partial void Reached(ILogger logger, string name, string address, string path, long milliseconds);

    [LoggerMessage(6026, LogLevel.Information, "No hole to {Name} within {Seconds} s; asking the rendezvous to relay")]
    public static partial void PunchFailed(ILogger logger, string name, double seconds);

    [LoggerMessage(6027, LogLevel.Debug, "Opening a path toward {Candidates} for session {Session}")]
    public static partial void Opening(ILogger logger, string candidates, long session);

    [LoggerMessage(6028, LogLevel.Information, "The gateway forwards {PublicEndPoint} to this node ({Method}); dialers are given it")]
    public static partial void Mapped(ILogger logger, string method, string? publicEndPoint);

    [LoggerMessage(6029, LogLevel.Information, "No port mapping: {Reason}; holes are punched without one")]
    public static partial void NotMapped(ILogger logger, PeerText reason);

    [LoggerMessage(6030, LogLevel.Information, "The relayed connection to {Name} moved to {Address} ({Path})")]
    public static partial void Upgraded(ILogger logger, string name, string address, string path);
}
