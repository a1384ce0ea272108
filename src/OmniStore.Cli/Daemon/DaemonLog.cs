using Microsoft.Extensions.Logging;

namespace OmniStore.Cli.Daemon;

/// <summary>Log messages of the <c>omnistore relay</c> daemon; event ids 4000-4099.</summary>
internal static partial class DaemonLog
{
    [LoggerMessage(4000, LogLevel.Information, "Status listener on {Address} (/status, /metrics, /healthz, /readyz)")]
    public static partial void StatusListening(ILogger logger, string address);

    [LoggerMessage(4001, LogLevel.Information, "{Signal} received: shutting down; in-flight requests get up to {GraceSeconds} s to finish (signal again to stop at once)")]
    public static partial void ShuttingDown(ILogger logger, string signal, double graceSeconds);

    [LoggerMessage(4002, LogLevel.Information, "Stopped; the store is checkpointed")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(4003, LogLevel.Information, "Starting a {Role}: parent {Parent}, store {Store}, shared secret {Secret}")]
    public static partial void Starting(ILogger logger, string role, string parent, string store, string secret);

    [LoggerMessage(4004, LogLevel.Information, "Open file descriptor limit: {Limit}")]
    public static partial void DescriptorLimit(ILogger logger, string limit);

    [LoggerMessage(4005, LogLevel.Warning, "Could not raise the open file descriptor limit from {Soft} to {Hard}: {Problem}")]
    public static partial void DescriptorLimitNotRaised(ILogger logger, long soft, long hard, string problem);

    [LoggerMessage(4006, LogLevel.Information, "In the last {Seconds} s: {Accepted} connections accepted, {Closed} closed, {Open} open now; {Requests} requests served; {BytesOut} bytes sent to children, {BytesIn} received from them")]
    public static partial void Activity(ILogger logger, double seconds, long accepted, long closed, long open, long requests, long bytesOut, long bytesIn);

    [LoggerMessage(4007, LogLevel.Information, "Told the service manager: {Message}")]
    public static partial void ServiceNotified(ILogger logger, string message);

    [LoggerMessage(4008, LogLevel.Warning, "Cannot notify the service manager at {Socket}: {Problem}")]
    public static partial void ServiceNotifyFailed(ILogger logger, string socket, string problem);

    [LoggerMessage(4009, LogLevel.Information, "Configuration: {Sources}")]
    public static partial void Configuration(ILogger logger, string sources);

    [LoggerMessage(4010, LogLevel.Information, "Exporting metrics and spans with OTLP to {Destination}")]
    public static partial void Exporting(ILogger logger, string destination);
}
