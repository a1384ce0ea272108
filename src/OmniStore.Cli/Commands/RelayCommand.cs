using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Microsoft.Extensions.Logging;
using OmniStore.Cli.Bench;
using OmniStore.Cli.Configuration;
using OmniStore.Cli.Daemon;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Transport;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore relay --listen tcp://HOST:PORT [--listen URI ...] [--parent URI[#NODEID]] [--site NAME] [--data-dir DIR]
/// [--cache-size SIZE] [--secret-file FILE] [--relay-secret-file FILE | --open-relays]
/// [--status-listen http://HOST:PORT] [--child-upstream-limit N] [--child-miss-rate N] [--child-miss-burst N]
/// [connection limits] [--checkpoint-interval DURATION] [--checkpoint-bytes SIZE]</c>: runs a relay
/// (with a parent) or the root (without) until SIGINT or SIGTERM. See docs/operations.md.
/// </summary>
internal static class RelayCommand
{
    /// <summary>How long in-flight requests may take to finish after a shutdown signal.</summary>
    public static readonly TimeSpan DefaultShutdownGrace = TimeSpan.FromSeconds(10);

    /// <summary>The environment variable naming the relay secret file; like every <c>OMNISTORE_*</c> key variable, it wins over <c>--relay-secret-file</c> (Configuration/RelayConfiguration).</summary>
    public const string RelaySecretVariable = "OMNISTORE_RELAY_SECRET_FILE";

    /// <summary>The command's name.</summary>
    public const string Name = "relay";

    /// <summary>The smallest store capacity: the store keeps at least four log pages of the largest chunk.</summary>
    private static readonly long MinStoreSize = 4L << new ContentStoreOptions { Directory = "." }.DataPageSizeBits;

    public static Command Create()
    {
        var command = new Command(Name, "Run a relay (with --parent) or the root (without) until SIGINT or SIGTERM, then drain and checkpoint; every option can also come from a --config file or an OMNISTORE_* variable");
        var settings = AddOptions(command);
        command.SetGuardedAction((parseResult, cancellationToken) => RelayDaemon.RunAsync(settings(parseResult), cancellationToken));
        return command;
    }

    /// <summary>
    /// Adds every option of <c>omnistore relay</c> to <paramref name="command"/> (the relay itself, or
    /// <c>omnistore config show</c>, which takes the same ones), with its checks; returns how to read
    /// the settings from a parse, which also makes the checks that need every value.
    /// </summary>
    internal static Func<ParseResult, RelaySettings> AddOptions(Command command)
    {
        var configFile = new ConfigFileOption();
        var listen = new Option<NodeAddress[]>("--listen")
        {
            Description = $"Where to listen for children (relays and clients), tcp://HOST:PORT; port 0 picks a free port. Repeat it to listen on several addresses (at most {TreeNodeOptions.MaxListenAddresses}); each address bound is printed at startup",
            HelpName = "URI",
            Required = true,

            // Repeated, one address a token: `--listen A --listen B`.
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
            CustomParser = ParseListenAddresses,
        };
        var parent = new Option<PeerAddress?>("--parent")
        {
            Description = "The parent (a relay or the root), tcp://HOST:PORT; with #NODEID after it, the parent must prove it is that node (32 hex digits, as it prints at startup) or it is refused. Without --parent this node is the root",
            HelpName = "URI",
            CustomParser = ParseParent,
        };
        var nodeName = new Option<string?>("--node-id")
        {
            Description = "The name this node registers at its rendezvous, so that nodes reach it behind NAT as rudp://NAME (docs/nat.md): 1-63 of a-z, 0-9 and '-', starting with a letter. Needs a rudp:// --listen address and --rendezvous (a relay's defaults to a rudp:// parent)",
            HelpName = "NAME",
            Validators = { ValidateNodeName },
        };
        var rendezvous = new Option<NodeAddress?>("--rendezvous")
        {
            Description = "The rendezvous that registers --node-id and finds nodes named rudp://NAME, rudp://HOST:PORT: the tree's root (every root serves one) or an `omnistore rendezvous` (docs/nat.md)",
            HelpName = "URI",
            CustomParser = ParseRendezvous,
        };
        var portMapping = new Option<bool>("--port-mapping")
        {
            Description = "With --node-id: ask the gateway to forward the rudp port (NAT-PMP, PCP and UPnP-IGD at once; renewed, removed at shutdown), so nodes behind any NAT reach this one on a mapped path (docs/nat-port-mapping.md)",
        };
        var site = new Option<string>("--site")
        {
            Description = $"The site name the node reports to peers and in its status: {SiteName.Rule} (default: the host name)",
            HelpName = "NAME",
            DefaultValueFactory = _ => SiteName.FromHostName(Environment.MachineName),
            Validators = { ValidateSite },
        };
        var dataDirectory = new Option<string?>("--data-dir")
        {
            Description = $"The node's store directory (one node per directory) [default: \"node\" in {StoreDirectory.DefaultDescription}]",
            HelpName = "DIR",
            Validators = { CommandLineValidators.NonEmpty },
        };
        var cacheSize = new Option<long?>("--cache-size")
        {
            Description = $"A relay's cache size (required with --parent); the root's capacity, beyond which it refuses new data (default, or 0: no limit). At least {ByteSize.Format(MinStoreSize)}",
            HelpName = "SIZE",
            CustomParser = ParseStoreSize,
        };
        var secretFile = new Option<string?>("--secret-file")
        {
            Description = "A file holding the tree's shared secret (trailing whitespace ignored); peers must prove they know it",
            HelpName = "FILE",
            Validators = { CommandLineValidators.NonEmpty },
        };
        var relaySecretFile = new Option<string?>("--relay-secret-file")
        {
            Description = $"A file holding the tree's relay secret, different from the shared one and given to relays only: this node proves it to its parent, and accepts as relays only children that prove it (without it, and without --open-relays, it accepts no relays). ${RelaySecretVariable}, like every OMNISTORE_* variable of a key, wins over it",
            HelpName = "FILE",
            Validators = { CommandLineValidators.NonEmpty },
        };
        var openRelays = new Option<bool>("--open-relays")
        {
            Description = "Insecure, for trusted networks only: accept any child that says it is a relay, without a relay secret. Any client can then hold up Puts and receive every broadcast",
        };
        var updateTimeout = new Option<TimeSpan?>("--update-timeout")
        {
            Description = "How long the root waits for a relay to apply a rebinding before it disconnects it (a relay waits half as long for its own relays); such as 10s or 500ms [default: 10s]",
            HelpName = "DURATION",
            CustomParser = ParseDuration,
        };
        var verifyInterval = new Option<TimeSpan?>("--verify-interval")
        {
            Description = "Read and check every chunk of the store this often (at least 1m); a root repairs what it finds damaged from its relays' copies, a relay from its parent, such as 24h [default: only when asked, omnistore verify --node]",
            HelpName = "DURATION",
            CustomParser = ParseDuration,
        };
        var lateRelayCooldown = new Option<TimeSpan?>("--late-relay-cooldown")
        {
            Description = "How long relays from the address of a relay that missed an update deadline are refused, doubled on each repeat [default: 30s]",
            HelpName = "DURATION",
            CustomParser = ParseDuration,
        };
        var maxLateRelayCooldown = new Option<TimeSpan?>("--max-late-relay-cooldown")
        {
            Description = "The longest such refusal [default: 10m]",
            HelpName = "DURATION",
            CustomParser = ParseDuration,
        };
        var statusListen = new Option<Uri?>("--status-listen")
        {
            Description = "Serve GET /status (JSON), GET /metrics (Prometheus), GET /tree (the tree below the node) and its page at / at http://HOST:PORT; port 0 picks a free port. No authentication: bind to loopback or a management network",
            HelpName = "URL",
            CustomParser = ParseStatusListen,
        };
        var otlp = new Option<Uri?>("--otlp")
        {
            Description = "Export the node's metrics and spans with OTLP to this collector (http://HOST:PORT; http/protobuf unless OTEL_EXPORTER_OTLP_PROTOCOL says grpc). Without it, OTEL_EXPORTER_OTLP_ENDPOINT turns the export on; neither: no export. See docs/observability.md",
            HelpName = "URL",
            CustomParser = ParseOtlp,
        };
        var childUpstreamLimit = new Option<int>("--child-upstream-limit")
        {
            Description = "A relay: how many requests to its parent one child connection's requests may have in flight; more wait",
            HelpName = "N",
            DefaultValueFactory = _ => TreeNodeOptions.DefaultMaxUpstreamFetchesPerChild,
            Validators = { AtLeastOne },
        };
        var childMissRate = new Option<int>("--child-miss-rate")
        {
            Description = "A relay: how many misses per second (requests its parent answers with an error, such as ids that do not exist) one child connection may cause on average; beyond it (and the burst) its requests that need the parent fail with Unavailable",
            HelpName = "N",
            DefaultValueFactory = _ => (int)TreeNodeOptions.DefaultUpstreamMissRate,
            Validators = { AtLeastOne },
        };
        var childMissBurst = new Option<int>("--child-miss-burst")
        {
            Description = "A relay: how many misses one child connection may cause at once before --child-miss-rate applies",
            HelpName = "N",
            DefaultValueFactory = _ => TreeNodeOptions.DefaultUpstreamMissBurst,
            Validators = { AtLeastOne },
        };
        var maxConnections = new Option<int?>("--max-connections")
        {
            Description = "The most connections from children (relays and clients) at once, handshakes included; more are refused with a clear error. Default: derived from the descriptor limit (the daemon raises its soft limit to the hard one at start), at most 16384",
            HelpName = "N",
            CustomParser = result => ParseCount(result),
        };
        var maxPerAddress = new Option<int>("--max-connections-per-address")
        {
            Description = "The most connections from one source address (IPv6: one /64) at once",
            HelpName = "N",
            DefaultValueFactory = _ => TreeNodeOptions.DefaultMaxConnectionsPerAddress,
            CustomParser = result => ParseCount(result) ?? 0,
        };
        var maxHandshakes = new Option<int>("--max-handshakes")
        {
            Description = "The most connections still in their handshake at once (one address may hold half of them)",
            HelpName = "N",
            DefaultValueFactory = _ => TreeNodeOptions.DefaultMaxPendingHandshakes,
            CustomParser = result => ParseCount(result) ?? 0,
        };
        var handshakeTimeout = new Option<TimeSpan>("--handshake-timeout")
        {
            Description = $"How long a new connection may take to complete its handshake, at most {TreeNodeOptions.MaxHandshakeTimeout.TotalSeconds:0}s",
            HelpName = "DURATION",
            DefaultValueFactory = _ => TreeNodeOptions.MaxHandshakeTimeout,
            CustomParser = result => ParseDuration(result, TreeNodeOptions.MaxHandshakeTimeout),
        };
        var keepAliveInterval = new Option<TimeSpan>("--keepalive-interval")
        {
            Description = "After this long without a frame from a peer, send it a PING (keeps live idle peers connected and NAT mappings open)",
            HelpName = "DURATION",
            DefaultValueFactory = _ => ConnectionLiveness.DefaultKeepAliveInterval,
            CustomParser = result => ParseDuration(result, TimeSpan.FromDays(1)),
        };
        var idleTimeout = new Option<TimeSpan>("--idle-timeout")
        {
            Description = "Close a connection whose peer sent no complete frame (or nothing of a message it started) for this long; longer than --keepalive-interval",
            HelpName = "DURATION",
            DefaultValueFactory = _ => ConnectionLiveness.DefaultIdleTimeout,
            CustomParser = result => ParseDuration(result, TimeSpan.FromDays(1)),
        };
        var memoryBudget = new Option<long?>("--memory-budget")
        {
            Description = "The most memory all connections may hold together for messages received and answers being sent; past it the connection holding the most unfinished messages or unread answers is closed. Default: a quarter of the memory the process may use, at most 1G",
            HelpName = "SIZE",
            CustomParser = result => ParseMemorySize(result, 16L << 20),
        };
        var connectionReceive = new Option<long?>("--max-connection-receive")
        {
            Description = "The most bytes of received messages one connection may hold (arriving, or waiting to be served); past it the connection is read no further until its requests are served. Default: 128M",
            HelpName = "SIZE",
            CustomParser = result => ParseMemorySize(result, 4L << 20),
        };
        var checkpointInterval = new Option<TimeSpan?>("--checkpoint-interval")
        {
            Description = "A relay: checkpoint the cache this often when something was written since the last checkpoint, so a relay killed without warning (kill -9, out of memory) keeps what it cached until then; such as 30s or 5m, or 0 for none by time [default: 30s]",
            HelpName = "DURATION",
            CustomParser = ParseDurationOrZero,
        };
        var checkpointBytes = new Option<long?>("--checkpoint-bytes")
        {
            Description = $"A relay: also checkpoint the cache once this much was written to it since the last checkpoint; 0 for none by bytes [default: {ByteSize.Format(ContentStoreOptions.DefaultCheckpointBytes)}]",
            HelpName = "SIZE",
            CustomParser = result => ParseMemorySize(result, 0),
        };
        var logLevel = new Option<LogLevel>("--log-level")
        {
            Description = "The least severe log messages written to stderr",
            HelpName = "LEVEL",
            DefaultValueFactory = _ => LogLevel.Information,
        };
        var logFormat = new Option<LogFormat>("--log-format")
        {
            Description = "How the log is written on stderr: text, one line per event for people, or json, one JSON object per line (time, level, eventId, nodeId, site, peer, message, fields) for log collectors",
            HelpName = "FORMAT",
            DefaultValueFactory = _ => LogFormat.Text,
        };
        var logSummaryInterval = new Option<TimeSpan?>("--log-summary-interval")
        {
            Description = "Log one line at Information this often with what the node did (connections accepted and closed, requests served, bytes), when it did anything; routine connections and bindings are logged at Debug. 0 for none [default: 1m]",
            HelpName = "DURATION",
            CustomParser = ParseDurationOrZero,
        };

        foreach (var option in (Option[])[
            configFile,
            listen,
            parent,
            nodeName,
            rendezvous,
            portMapping,
            site,
            dataDirectory,
            cacheSize,
            secretFile,
            relaySecretFile,
            openRelays,
            updateTimeout,
            lateRelayCooldown,
            maxLateRelayCooldown,
            verifyInterval,
            statusListen,
            otlp,
            childUpstreamLimit,
            childMissRate,
            childMissBurst,
            maxConnections,
            maxPerAddress,
            maxHandshakes,
            handshakeTimeout,
            keepAliveInterval,
            idleTimeout,
            memoryBudget,
            connectionReceive,
            checkpointInterval,
            checkpointBytes,
            logLevel,
            logFormat,
            logSummaryInterval,
        ])
        {
            command.Options.Add(option);
        }

        var tls = new TlsCommandOptions();
        tls.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetResult(parent) is not { Implicit: false })
            {
                return;
            }

            long? size;
            try
            {
                size = result.GetValue(cacheSize);
            }
            catch (InvalidOperationException)
            {
                return; // its own parser refused the value, and that error is reported
            }

            if (size is null or 0)
            {
                result.AddError($"a relay (--parent) needs --cache-size SIZE: how much disk its cache may use, at least {ByteSize.Format(MinStoreSize)} (for example --cache-size 10G).");
            }
        });

        return parseResult =>
        {
            var first = parseResult.GetValue(lateRelayCooldown) ?? TreeNodeOptions.DefaultLateRelayCooldown;
            var longest = parseResult.GetValue(maxLateRelayCooldown) ?? TreeNodeOptions.DefaultMaxLateRelayCooldown;
            if (longest < first)
            {
                throw new UsageException($"--max-late-relay-cooldown ({longest.TotalSeconds} s) must be at least --late-relay-cooldown ({first.TotalSeconds} s).");
            }

            // Checked here rather than in a validator: defaults are not applied there yet.
            if (parseResult.GetValue(idleTimeout) <= parseResult.GetValue(keepAliveInterval))
            {
                throw new UsageException("--idle-timeout must be longer than --keepalive-interval, so that a live peer can answer a PING in time.");
            }

            return Settings(parseResult);
        };

        RelaySettings Settings(ParseResult parseResult)
        {
            var (parentAddress, parentId) = parseResult.GetValue(parent) is { } named ? OmniStoreClient.Dialable(named) : (null, null);
            string? givenDirectory = parseResult.GetValue(dataDirectory);
            return new RelaySettings(
                parseResult.GetRequiredValue(listen),
                parentAddress,
                parseResult.GetRequiredValue(site),
                Path.GetFullPath(StoreDirectory.Resolve(givenDirectory, dataDirectory.Name, "node")),
                parseResult.GetValue(cacheSize) ?? 0,
                parseResult.GetValue(secretFile),
                parseResult.GetValue(statusListen),
                parseResult.GetValue(logLevel),
                DefaultShutdownGrace)
            {
                ParentNodeId = parentId,
                NodeName = parseResult.GetValue(nodeName),
                Rendezvous = parseResult.GetValue(rendezvous),
                PortMapping = parseResult.GetValue(portMapping),
                DataDirectoryIsDefault = givenDirectory is null,
                RelaySecretFile = parseResult.GetValue(relaySecretFile),
                Tls = tls.Read(parseResult),
                OpenRelays = parseResult.GetValue(openRelays),
                UpdateTimeout = parseResult.GetValue(updateTimeout) ?? TreeNodeOptions.DefaultUpdateTimeout,
                LateRelayCooldown = parseResult.GetValue(lateRelayCooldown) ?? TreeNodeOptions.DefaultLateRelayCooldown,
                MaxLateRelayCooldown = parseResult.GetValue(maxLateRelayCooldown) ?? TreeNodeOptions.DefaultMaxLateRelayCooldown,
                VerifyInterval = parseResult.GetValue(verifyInterval),
                ChildUpstreamLimit = parseResult.GetValue(childUpstreamLimit),
                ChildMissRate = parseResult.GetValue(childMissRate),
                ChildMissBurst = parseResult.GetValue(childMissBurst),
                MaxConnections = parseResult.GetValue(maxConnections),
                MaxConnectionsPerAddress = parseResult.GetValue(maxPerAddress),
                MaxPendingHandshakes = parseResult.GetValue(maxHandshakes),
                HandshakeTimeout = parseResult.GetValue(handshakeTimeout),
                KeepAliveInterval = parseResult.GetValue(keepAliveInterval),
                IdleTimeout = parseResult.GetValue(idleTimeout),
                MemoryBudget = parseResult.GetValue(memoryBudget),
                MaxConnectionReceive = parseResult.GetValue(connectionReceive),
                CheckpointInterval = parseResult.GetValue(checkpointInterval) ?? ContentStoreOptions.DefaultCheckpointInterval,
                CheckpointBytes = parseResult.GetValue(checkpointBytes) ?? ContentStoreOptions.DefaultCheckpointBytes,
                LogFormat = parseResult.GetValue(logFormat),
                LogSummaryInterval = parseResult.GetValue(logSummaryInterval) ?? RelaySettings.DefaultLogSummaryInterval,
                ConfigurationSources = RelayConfiguration.Of(parseResult)?.Summary,
                Otlp = parseResult.GetValue(otlp),
            };
        }
    }

    private static void ValidateSite(OptionResult result)
    {
        if (result.Tokens.Count == 0)
        {
            return;
        }

        string value = result.Tokens[0].Value;
        if (value.Length == 0)
        {
            result.AddError("--site must not be empty.");
        }
        else if (!SiteName.IsValid(value, out string? problem))
        {
            result.AddError($"--site: {problem}.");
        }
    }

    private static void AtLeastOne(OptionResult result)
    {
        if (result.Tokens.Count > 0 && int.TryParse(result.Tokens[0].Value, System.Globalization.CultureInfo.InvariantCulture, out int value) && value < 1)
        {
            result.AddError($"{result.Option.Name} must be at least 1.");
        }
    }

    /// <summary>Every <c>--listen</c> given, in order: each one address (the library's parser), none twice, at most <see cref="TreeNodeOptions.MaxListenAddresses"/>.</summary>
    private static NodeAddress[] ParseListenAddresses(ArgumentResult result)
    {
        var addresses = new List<NodeAddress>(result.Tokens.Count);
        foreach (var token in result.Tokens)
        {
            if (!NodeAddress.TryParse(token.Value, out var address, out string? error))
            {
                string hint = token.Value.Contains(',', StringComparison.Ordinal) ? " Repeat --listen to listen on several addresses." : "";
                result.AddError($"--listen: {error}.{hint}");
                return [];
            }

            if (address is { Scheme: "rudp" or "tls+rudp", Port: 0 } && !token.Value.Trim().TrimEnd('/').EndsWith(":0", StringComparison.Ordinal))
            {
                // rudp://NAME (no port) names a node behind NAT; a listener says its port (0 picks one).
                result.AddError($"--listen: '{OmniStore.Internal.UntrustedText.Escape(token.Value, 96)}' has no port: give {address.Scheme}://HOST:PORT (port 0 picks a free one).");
                return [];
            }

            if (addresses.Contains(address))
            {
                result.AddError($"--listen: {address} is given twice; each address is listened on once.");
                return [];
            }

            addresses.Add(address);
        }

        if (addresses.Count > TreeNodeOptions.MaxListenAddresses)
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"--listen is given {addresses.Count} times; a node listens on at most {TreeNodeOptions.MaxListenAddresses} addresses."));
            return [];
        }

        return [.. addresses];
    }

    /// <summary>Checks <c>--node-id</c> against the node name grammar (docs/nat.md).</summary>
    private static void ValidateNodeName(OptionResult result)
    {
        if (result.Tokens.Count > 0 && OmniStore.Nat.Rendezvous.RendezvousMessages.CheckName(result.Tokens[0].Value) is { } problem)
        {
            result.AddError($"--node-id: {problem}.");
        }
    }

    /// <summary>Parses a rendezvous address: rudp://HOST:PORT.</summary>
    internal static NodeAddress? ParseRendezvous(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (!NodeAddress.TryParse(text, out var address, out string? error))
        {
            result.AddError($"--rendezvous: {error}.");
            return null;
        }

        if (!OmniStore.Nat.NatOptions.IsRendezvousAddress(address))
        {
            result.AddError($"--rendezvous: a rendezvous is a rudp://HOST:PORT (or tls+rudp://HOST:PORT) address, not '{address}'.");
            return null;
        }

        return address;
    }

    /// <summary>
    /// The parent, <c>tcp://HOST:PORT</c> with an optional <c>#NODEID</c>: parsed as the client parses
    /// its relay (<see cref="PeerAddress"/>), and dialable as it dials one (an endpoint, and an id of
    /// this version's length).
    /// </summary>
    private static PeerAddress? ParseParent(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (!PeerAddress.TryParse(text, out var address, out string? error))
        {
            result.AddError($"--parent: {error}.");
            return null;
        }

        try
        {
            _ = OmniStoreClient.Dialable(address);
            return address;
        }
        catch (OmniStoreException ex)
        {
            result.AddError($"--parent: {ex.Message}");
            return null;
        }
    }

    private static long? ParseStoreSize(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (!ByteSize.TryParse(text, out long bytes, out string? problem))
        {
            result.AddError($"--cache-size: {problem}.");
            return null;
        }

        if (bytes != 0 && bytes < MinStoreSize)
        {
            result.AddError($"--cache-size: {text} is too small; a store needs at least {ByteSize.Format(MinStoreSize)}.");
            return null;
        }

        return bytes;
    }

    /// <summary>A size of at least <paramref name="minimum"/> bytes.</summary>
    private static long? ParseMemorySize(ArgumentResult result, long minimum)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (!ByteSize.TryParse(text, out long bytes, out string? problem))
        {
            result.AddError($"{OptionName(result)}: {problem}.");
            return null;
        }

        if (bytes < minimum)
        {
            result.AddError($"{OptionName(result)}: {text} is too small; at least {ByteSize.Format(minimum)}.");
            return null;
        }

        return bytes;
    }

    private static Uri? ParseStatusListen(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (NodeAddressOptions.TryParseHttp(text, forClient: false, out var uri, out string? problem))
        {
            return uri;
        }

        result.AddError($"--status-listen: '{text}' {problem}.");
        return null;
    }

    private static Uri? ParseOtlp(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0 && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment))
        {
            return uri;
        }

        result.AddError($"--otlp: '{OmniStore.Internal.UntrustedText.Escape(text, 200)}' is not an OTLP collector's address, such as http://127.0.0.1:4318.");
        return null;
    }

    /// <summary>A positive duration: a number with ms, s, m or h (seconds without a unit), at most 7 days; any command's duration option.</summary>
    internal static TimeSpan? ParseDuration(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value.Trim() : string.Empty;
        int digits = 0;
        while (digits < text.Length && (char.IsAsciiDigit(text[digits]) || text[digits] == '.'))
        {
            digits++;
        }

        double scale = text[digits..].ToLowerInvariant() switch
        {
            "ms" => 0.001,
            "" or "s" => 1,
            "m" or "min" => 60,
            "h" => 3600,
            _ => 0,
        };
        if (scale > 0 && double.TryParse(text.AsSpan(0, digits), System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out double value)
            && value * scale is > 0 and <= 7 * 24 * 3600)
        {
            return TimeSpan.FromSeconds(value * scale);
        }

        result.AddError($"{OptionName(result)}: '{text}' is not a duration between 1 ms and 7 days, such as 500ms, 10s, 5m or 1h.");
        return null;
    }

    /// <summary>0 (none), or a duration as <see cref="ParseDuration(ArgumentResult)"/> takes it.</summary>
    private static TimeSpan? ParseDurationOrZero(ArgumentResult result) =>
        result.Tokens.Count > 0 && result.Tokens[0].Value.Trim() is "0" or "0s" ? TimeSpan.Zero : ParseDuration(result);

    /// <summary>A count of at least 1.</summary>
    private static int? ParseCount(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int count) && count >= 1)
        {
            return count;
        }

        result.AddError($"{OptionName(result)}: '{text}' is not a count of at least 1.");
        return null;
    }

    /// <summary>A duration with its unit (500ms, 30s), more than 0 and at most <paramref name="max"/>.</summary>
    private static TimeSpan ParseDuration(ArgumentResult result, TimeSpan max)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value.Trim() : string.Empty;
        bool hasUnit = text.Length > 0 && char.IsAsciiLetter(text[^1]);
        if (hasUnit && LinkUnits.TryParseDuration(text, out var duration) && duration > TimeSpan.Zero && duration <= max)
        {
            return duration;
        }

        result.AddError($"{OptionName(result)}: '{text}' is not a duration above 0 and at most {max.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s, with its unit (for example 500ms or 30s).");
        return TimeSpan.Zero;
    }

    private static string OptionName(ArgumentResult result) => result.Parent is OptionResult option ? option.Option.Name : "address";
}
