using Microsoft.Extensions.Logging;
using OmniStore.Internal;

namespace OmniStore.Nat.PortMapping;

/// <summary>Log messages of port mapping; event ids 6000-6019. What a gateway said is <see cref="PeerText"/>: written escaped, one line each.</summary>
internal static partial class PortMappingLog
{
    [LoggerMessage(6000, LogLevel.Information, "UDP port {InternalPort} is reachable at {PublicEndPoint} ({Method}, for {LifetimeSeconds} s)")]
    public static partial void Mapped(ILogger logger, int internalPort, string publicEndPoint, string method, double lifetimeSeconds);

    [LoggerMessage(6001, LogLevel.Debug, "Port mapping by {Method} failed: {Reason}")]
    public static partial void MethodFailed(ILogger logger, string method, PeerText reason);

    [LoggerMessage(6002, LogLevel.Warning, "No gateway mapped UDP port {InternalPort}: {Reasons}")]
    public static partial void NothingMapped(ILogger logger, int internalPort, PeerText reasons);

    [LoggerMessage(6003, LogLevel.Debug, "Renewed the mapping of UDP port {InternalPort} at {PublicEndPoint} ({Method}, for {LifetimeSeconds} s)")]
    public static partial void Renewed(ILogger logger, int internalPort, string publicEndPoint, string method, double lifetimeSeconds);

    [LoggerMessage(6004, LogLevel.Warning, "The public endpoint of UDP port {InternalPort} changed from {Before} to {After} ({Method})")]
    public static partial void Moved(ILogger logger, int internalPort, string before, string after, string method);

    [LoggerMessage(6005, LogLevel.Warning, "Renewing the mapping of UDP port {InternalPort} ({Method}) failed: {Reason}; trying again in {DelaySeconds} s")]
    public static partial void RenewFailed(ILogger logger, int internalPort, string method, PeerText reason, double delaySeconds);

    [LoggerMessage(6006, LogLevel.Warning, "The mapping of UDP port {InternalPort} ({Method}) expired without renewal; the port is no longer reachable from outside")]
    public static partial void Lost(ILogger logger, int internalPort, string method);

    [LoggerMessage(6007, LogLevel.Information, "Removed the mapping of UDP port {InternalPort} at {PublicEndPoint} ({Method})")]
    public static partial void Removed(ILogger logger, int internalPort, string publicEndPoint, string method);

    [LoggerMessage(6008, LogLevel.Warning, "Removing the mapping of UDP port {InternalPort} at {PublicEndPoint} ({Method}) failed: {Reason}; the gateway drops it when its lifetime ends")]
    public static partial void RemoveFailed(ILogger logger, int internalPort, string publicEndPoint, string method, PeerText reason);

    [LoggerMessage(6009, LogLevel.Information, "The gateway lost its mappings (its epoch went back); mapped UDP port {InternalPort} again ({Method})")]
    public static partial void GatewayRestarted(ILogger logger, int internalPort, string method);

    [LoggerMessage(6011, LogLevel.Debug, "Removing the mapping of UDP port {InternalPort} through {Method} too (it also granted it): {Outcome}")]
    public static partial void AlsoRemoved(ILogger logger, int internalPort, string method, PeerText outcome);

    [LoggerMessage(6010, LogLevel.Warning, "The gateway's external address {Address} is private or reserved: another NAT may stand in front of it, and the mapped port may not be reachable from the internet")]
    public static partial void PrivateExternalAddress(ILogger logger, string address);
}
