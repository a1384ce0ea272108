using Microsoft.Extensions.Logging;
using OmniStore.Cli.Status;
using OmniStore.Internal;
using OmniStore.Node;

namespace OmniStore.Cli.Daemon;

/// <summary>
/// Runs a root or relay node until SIGINT or SIGTERM, then shuts it down gracefully: the listener
/// closes, in-flight requests get <see cref="RelaySettings.ShutdownGrace"/> to finish, connections
/// close, and the store is checkpointed. Prints the lines scripts wait for on stdout:
/// <c>node id ID</c> (32 hex digits, the same at every start on one data directory), <c>listening on
/// tcp://HOST:PORT</c> once for each address bound (first the first <c>--listen</c>'s) and, with a
/// status listener, <c>status on http://HOST:PORT</c> after them.
/// </summary>
internal static class RelayDaemon
{
    public const string NodeIdPrefix = "node id ";
    public const string ListeningPrefix = "listening on ";
    public const string StatusPrefix = "status on ";

    public static async Task<int> RunAsync(RelaySettings settings, CancellationToken cancellationToken)
    {
        // First of all, so that a signal during startup still ends in an orderly shutdown.
        using var signal = new ShutdownSignal();
        byte[]? secret = settings.SecretFile is null ? null : SecretFile.Read(settings.SecretFile);
        byte[]? relaySecret = settings.RelaySecretFile is null ? null : SecretFile.Read(settings.RelaySecretFile);
        if (relaySecret is not null && secret is not null && relaySecret.AsSpan().SequenceEqual(secret))
        {
            // Every client holds the shared secret: as the relay secret too, it would keep no client from being a relay.
            throw new UsageException($"--relay-secret-file {settings.RelaySecretFile} holds the tree's shared secret; a relay secret must be a different one, known to the relays only.");
        }

        var identity = new LogIdentity(settings.Site);
        void ConfigureLogging(ILoggingBuilder logging) => ConsoleLogging.Configure(logging, settings.LogLevel, settings.LogFormat, identity);
        using var loggerFactory = LoggerFactory.Create(ConfigureLogging);
        var logger = loggerFactory.CreateLogger("OmniStore.Cli.Relay");
        if (settings.ConfigurationSources is { } sources)
        {
            DaemonLog.Configuration(logger, sources);
        }

        DaemonLog.Starting(
            logger,
            settings.Parent is null ? "root" : "relay",
            settings.Parent is null ? "none" : settings.ParentNodeId is { } mustBe ? $"{settings.Parent} (must be node {mustBe})" : settings.Parent.ToString(),
            settings.Parent is null
                ? $"pinned in {settings.DataDirectory}, capacity {(settings.CacheSize == 0 ? "unlimited" : ByteSize.Format(settings.CacheSize))}"
                : $"cache of {ByteSize.Format(settings.CacheSize)} in {settings.DataDirectory}",
            secret is null ? "none" : $"from {settings.SecretFile}");

        RaiseDescriptorLimit(logger);
        StoreDirectory.Create(settings.DataDirectory, "--data-dir", settings.DataDirectoryIsDefault);
        var node = await TreeNode.StartAsync(
            new TreeNodeOptions
            {
                Listen = settings.Listen,
                Parent = settings.Parent,
                ParentNodeId = settings.ParentNodeId,
                NodeName = settings.NodeName,
                Rendezvous = settings.Rendezvous,
                PortMapping = settings.PortMapping,
                Site = settings.Site,
                DataDirectory = settings.DataDirectory,
                CacheSize = settings.CacheSize,
                Secret = secret,
                RelaySecret = relaySecret,
                Tls = settings.Tls,
                AcceptRelaysWithoutSecret = settings.OpenRelays,
                UpdateTimeout = settings.UpdateTimeout,
                LateRelayCooldown = settings.LateRelayCooldown,
                VerifyInterval = settings.VerifyInterval,
                MaxLateRelayCooldown = settings.MaxLateRelayCooldown,
                MaxUpstreamFetchesPerChild = settings.ChildUpstreamLimit,
                UpstreamMissRate = settings.ChildMissRate,
                UpstreamMissBurst = settings.ChildMissBurst,
                MaxConnections = settings.MaxConnections,
                MaxConnectionsPerAddress = settings.MaxConnectionsPerAddress,
                MaxPendingHandshakes = settings.MaxPendingHandshakes,
                HandshakeTimeout = settings.HandshakeTimeout,
                KeepAliveInterval = settings.KeepAliveInterval,
                IdleTimeout = settings.IdleTimeout,
                MemoryBudget = settings.MemoryBudget ?? OmniStore.Protocol.MemoryBudget.DefaultLimit,
                ConnectionReceiveBytes = settings.MaxConnectionReceive ?? OmniStore.Protocol.ConnectionLimits.Default.MaxReceiveBytes,
                CheckpointInterval = settings.CheckpointInterval,
                CheckpointBytes = settings.CheckpointBytes,
                LoggerFactory = loggerFactory,
            },
            cancellationToken);

        identity.NodeId = node.NodeId.ToString();
        StatusListener? status = null;
        ActivitySummary? summary = null;
        OtlpExport? otlp = null;
        await using var notifier = ServiceNotifier.FromEnvironment(logger);
        try
        {
            if (settings.StatusListen is { } statusListen)
            {
                status = await StatusListener.StartAsync(statusListen, node.GetStatus, node.GetReadiness, node.GetTreeAsync, ConfigureLogging, cancellationToken);
                DaemonLog.StatusListening(logger, status.Address.GetLeftPart(UriPartial.Authority));
            }

            otlp = OtlpExport.Start(settings.Otlp, node.GetStatus, node.NodeId.ToString(), node.IsRoot ? "root" : "relay", settings.Site);
            if (otlp is not null)
            {
                DaemonLog.Exporting(logger, otlp.Destination);
            }

            Console.Out.WriteLine($"{NodeIdPrefix}{node.NodeId}");
            foreach (var address in node.Addresses)
            {
                Console.Out.WriteLine($"{ListeningPrefix}{address}");
            }

            if (status is not null)
            {
                Console.Out.WriteLine($"{StatusPrefix}{status.Address.GetLeftPart(UriPartial.Authority)}");
            }

            await Console.Out.FlushAsync(cancellationToken);
            summary = ActivitySummary.Start(node, logger, settings.LogSummaryInterval);
            notifier?.Ready($"{(node.IsRoot ? "root" : "relay")} {node.NodeId} listening on {string.Join(", ", node.Addresses)}");

            var received = await signal.Received;
            notifier?.Stopping($"{received} received: draining");
            DaemonLog.ShuttingDown(logger, received.ToString(), settings.ShutdownGrace.TotalSeconds);
            await node.StopAsync(settings.ShutdownGrace);
        }
        finally
        {
            if (summary is not null)
            {
                await summary.DisposeAsync();
            }

            if (status is not null)
            {
                await status.DisposeAsync();
            }

            otlp?.Dispose(); // its last export reads the node's status
            await node.DisposeAsync();
        }

        DaemonLog.Stopped(logger);
        return ExitCodes.Success;
    }

    /// <summary>
    /// Raises the soft descriptor limit to the hard one: every connection takes a descriptor, and
    /// the usual soft default (1024) would cap a node at a few hundred children. The node derives
    /// its default connection limit from what this leaves.
    /// </summary>
    private static void RaiseDescriptorLimit(ILogger logger)
    {
        if (DescriptorLimit.Get() is not { } limit)
        {
            return; // no such limit here
        }

        if (DescriptorLimit.TryRaiseSoftToHard(out string? problem) is { } raised)
        {
            DaemonLog.DescriptorLimit(logger, raised.Before == raised.After ? $"{raised.After}, the hard limit" : $"raised from {raised.Before} to {raised.After}, the hard limit");
        }
        else
        {
            DaemonLog.DescriptorLimitNotRaised(logger, limit.Soft, limit.Hard, problem ?? "unknown");
        }
    }
}
