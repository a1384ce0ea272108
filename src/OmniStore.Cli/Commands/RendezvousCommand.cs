using System.CommandLine;
using Microsoft.Extensions.Logging;
using OmniStore.Cli.Daemon;
using OmniStore.Internal;
using OmniStore.Nat.Rendezvous;
using OmniStore.Transport;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore rendezvous --listen rudp://HOST:PORT</c>: a small public server for a tree whose
/// root is behind NAT (docs/nat.md): it answers STUN, registers node names, introduces nodes so
/// they punch holes to each other, and relays when no hole opens. It stores no data. Prints
/// <c>listening on rudp://HOST:PORT</c> once bound, then runs until SIGINT or SIGTERM.
/// </summary>
internal static class RendezvousCommand
{
    public static Command Create()
    {
        var listen = new Option<NodeAddress>("--listen")
        {
            Description = "Where to listen, rudp://HOST:PORT, or tls+rudp://HOST:PORT for a TLS tree (a public address every node can reach; port 0 picks one)",
            HelpName = "URI",
            Required = true,
            CustomParser = ParseListen,
        };
        var secretFile = new Option<string?>("--secret-file")
        {
            Description = "A file holding the tree's shared secret: only nodes that prove it may register a name or ask for one",
            HelpName = "FILE",
            Validators = { CommandLineValidators.NonEmpty },
        };
        var relayRate = new Option<long?>("--relay-rate")
        {
            Description = "The most bytes per second one relayed path carries each way (default 12.5M, i.e. 100 Mbit/s)",
            HelpName = "SIZE",
            CustomParser = result => ByteSize.TryParse(result.Tokens.Count > 0 ? result.Tokens[0].Value : "", out long bytes, out _) && bytes > 0 ? bytes : Refuse(result),
        };
        var maxRelays = new Option<int?>("--max-relays")
        {
            Description = "The most relayed paths at once (default 64)",
            HelpName = "N",
        };
        var logLevel = new Option<LogLevel>("--log-level")
        {
            Description = "The least severe log messages written to stderr",
            HelpName = "LEVEL",
            DefaultValueFactory = _ => LogLevel.Information,
        };
        var command = new Command("rendezvous", "Run a rendezvous for nodes behind NAT (names, introductions, hole punching, relays; no data) until SIGINT or SIGTERM")
        {
            listen, secretFile, relayRate, maxRelays, logLevel,
        };
        var tls = new TlsCommandOptions();
        tls.AddTo(command);
        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            using var signal = new ShutdownSignal();
            byte[]? secret = parseResult.GetValue(secretFile) is { } path ? SecretFile.Read(path) : null;
            using var loggerFactory = LoggerFactory.Create(logging => ConsoleLogging.Configure(logging, parseResult.GetValue(logLevel)));
            var defaults = new RendezvousOptions();
            var options = defaults with
            {
                RelayRate = parseResult.GetValue(relayRate) ?? defaults.RelayRate,
                MaxRelays = parseResult.GetValue(maxRelays) is { } most and > 0 ? most : defaults.MaxRelays,
            };
            var address = parseResult.GetRequiredValue(listen);
            using var credentials = tls.Read(parseResult)?.Load();
            if ((address.Scheme == "tls+rudp") != (credentials is not null))
            {
                throw new UsageException(credentials is null
                    ? $"--listen {address} is a TLS address: give --tls-cert, --tls-key and --tls-ca (a relay's or root's certificate of the tree)."
                    : "--tls-cert applies to a tls+rudp:// --listen address.");
            }

            await using var server = RendezvousServer.Start([address], secret, options, loggerFactory, credentials);
            foreach (var bound in server.Addresses)
            {
                Console.Out.WriteLine($"{RelayDaemon.ListeningPrefix}{bound}");
            }

            await Console.Out.FlushAsync(cancellationToken);
            await signal.Received;
            return ExitCodes.Success;
        });
        return command;
    }

    private static NodeAddress ParseListen(System.CommandLine.Parsing.ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (!NodeAddress.TryParse(text, out var address, out string? error))
        {
            result.AddError($"--listen: {error}.");
            return null!;
        }

        if (address.Scheme is not ("rudp" or "tls+rudp"))
        {
            result.AddError($"--listen: a rendezvous listens on rudp://HOST:PORT (or tls+rudp://), not '{address}'.");
        }

        return address;
    }

    private static long? Refuse(System.CommandLine.Parsing.ArgumentResult result)
    {
        result.AddError("--relay-rate: give a size per second, for example 12.5M.");
        return null;
    }
}
