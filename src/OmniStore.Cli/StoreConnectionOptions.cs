using System.CommandLine;
using System.CommandLine.Parsing;
using OmniStore.Content;
using OmniStore.Transport.Internal;

namespace OmniStore.Cli;

/// <summary>
/// The options that choose the store a command talks to: a relay or root over the network
/// (<c>--relay URI</c>, default <c>$OMNISTORE_RELAY</c>), else the embedded store in a directory
/// (<c>--store</c>). The commands themselves only ever call <c>OpenAsync</c>.
/// </summary>
internal sealed class StoreConnectionOptions
{
    public const string RelayVariable = OmniStoreClient.RelayVariable;
    public const string FallbackVariable = OmniStoreClient.FallbackVariable;

    // No default value: the default directory is found only when the embedded store opens (StoreDirectory).
    public Option<string?> Store { get; } = new("--store")
    {
        Description = $"The embedded store's directory, used when no relay is given [default: {StoreDirectory.DefaultDescription}]",
        HelpName = "DIR",
        Validators = { CommandLineValidators.NonEmpty },
    };

    public Option<string?> Relay { get; } = new("--relay")
    {
        Description = $"The relay or root to talk to, tcp://HOST:PORT, or a comma-separated list tried in order (default: ${RelayVariable}; without either, the embedded store)",
        HelpName = "URI",
        Validators = { NodeAddressOptions.Validate },
    };

    public Option<string[]> Fallback { get; } = new("--fallback")
    {
        Description = $"Another node to move to when the relay is unreachable, tcp://HOST:PORT; repeat or give a comma-separated list for more, tried in order (default: ${FallbackVariable}, comma-separated)",
        HelpName = "URI",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        Validators = { NodeAddressOptions.Validate },
    };

    public Option<string?> SecretFile { get; } = new("--secret-file")
    {
        Description = "A file holding the tree's shared secret (trailing whitespace ignored) [default: $OMNISTORE_SECRET_FILE]",
        HelpName = "FILE",
        Validators = { CommandLineValidators.NonEmpty },
    };

    public Option<string?> Rendezvous { get; } = new("--rendezvous")
    {
        Description = "The rendezvous that finds relays behind NAT named rudp://NAME, rudp://HOST:PORT (docs/nat.md) [default: $OMNISTORE_RENDEZVOUS]",
        HelpName = "URI",

        // Checked when the command line is read, also when no relay is given: a command that
        // needs no network (ls of the embedded store) still says a bad address is one.
        Validators = { CommandLineValidators.NonEmpty, ValidateRendezvous },
    };

    private static void ValidateRendezvous(System.CommandLine.Parsing.OptionResult result)
    {
        foreach (var token in result.Tokens)
        {
            if (!string.IsNullOrWhiteSpace(token.Value) && !OmniStore.Transport.NodeAddress.TryParse(token.Value, out _, out var error))
            {
                result.AddError($"{result.Option.Name}: {error}.");
            }
        }
    }

    /// <summary>The environment variable that gives the default of <c>--rendezvous</c>.</summary>
    public const string RendezvousVariable = "OMNISTORE_RENDEZVOUS";

    /// <summary>The client's certificate, key and tree CA for <c>tls+</c> relays.</summary>
    public TlsCommandOptions Tls { get; } = new();

    /// <summary>Adds the options to <paramref name="command"/>, with the check that --relay and --store exclude each other.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Relay);
        command.Options.Add(Fallback);
        command.Options.Add(SecretFile);
        command.Options.Add(Rendezvous);
        Tls.AddTo(command);
        command.Options.Add(Store);
        command.Validators.Add(result =>
        {
            if (result.GetResult(Relay) is { Implicit: false } && result.GetResult(Store) is { Implicit: false })
            {
                result.AddError("--relay and --store exclude each other: a command talks to a relay or to an embedded store.");
            }

            // Each option's values were checked alone; an address in both is a usage error too.
            var sources = new List<(string?, string?)>();
            foreach (var option in new Option[] { Relay, Fallback })
            {
                if (result.GetResult(option) is { Implicit: false } given)
                {
                    sources.AddRange(given.Tokens.Select(t => ((string?)option.Name, (string?)t.Value)));
                }
            }

            if (sources.Count > 1 && sources.All(s => AddressGrammar.TryParseList([s], AddressSchemes.Default, out _) is null)
                && AddressGrammar.TryParseList(sources, AddressSchemes.Default, out _) is { } error)
            {
                result.AddError(error + ".");
            }
        });
    }

    /// <summary>
    /// The relay the command line names: <c>--relay</c>, else <c>$OMNISTORE_RELAY</c> unless
    /// <c>--store</c> was given explicitly; null for the embedded store. An address list, checked
    /// when the client connects.
    /// </summary>
    public string? RelayUri(ParseResult parseResult) => RelaySource(parseResult)?.Text;

    /// <summary>The relay's address list and where it came from (the option or the variable), for messages.</summary>
    private (string Label, string Text)? RelaySource(ParseResult parseResult)
    {
        if (parseResult.GetValue(Relay) is { } relay)
        {
            return (Relay.Name, relay);
        }

        if (parseResult.GetResult(Store) is { Implicit: false })
        {
            return null;
        }

        string? fromEnvironment = Environment.GetEnvironmentVariable(RelayVariable);
        return string.IsNullOrWhiteSpace(fromEnvironment) ? null : ("$" + RelayVariable, fromEnvironment);
    }

    /// <summary>Opens the store the command line names, with the default chunk size.</summary>
    public Task<OmniStoreClient> OpenAsync(ParseResult parseResult, CancellationToken cancellationToken) =>
        OpenAsync(parseResult, ChunkLayout.DefaultChunkSize, cancellationToken);

    /// <summary>
    /// Opens the store the command line names, with <paramref name="chunkSize"/> for Puts: connects
    /// to the relay (moving to the fallbacks when it is unreachable), or opens the embedded store.
    /// </summary>
    public async Task<OmniStoreClient> OpenAsync(ParseResult parseResult, int chunkSize, CancellationToken cancellationToken)
    {
        var relay = RelaySource(parseResult);
        string[] fallbacks = parseResult.GetValue(Fallback) ?? [];
        string? secretPath = parseResult.GetValue(SecretFile);
        if (relay is not { } source)
        {
            if (fallbacks.Length > 0 || secretPath is not null || parseResult.GetValue(Tls.Certificate) is not null)
            {
                throw new UsageException($"{(fallbacks.Length > 0 ? "--fallback" : secretPath is not null ? "--secret-file" : "--tls-cert")} applies to a relay: give --relay URI (or set ${RelayVariable}).");
            }

            return OpenEmbedded(parseResult, chunkSize);
        }

        // Each list keeps its label, so a bad address from the environment names its variable (it is
        // InvalidArgument, as from the library; a bad option value was a usage error while parsing).
        var sources = new List<(string?, string?)> { (source.Label, source.Text) };
        sources.AddRange(fallbacks.Select(f => ((string?)Fallback.Name, (string?)f)));
        if (fallbacks.Length == 0 && Environment.GetEnvironmentVariable(FallbackVariable) is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            sources.Add(("$" + FallbackVariable, fromEnvironment));
        }

        var options = new OmniStoreOptions
        {
            ChunkSize = chunkSize,
            SharedSecret = Secret(parseResult),
            Tls = Tls.Read(parseResult),
            Rendezvous = parseResult.GetValue(Rendezvous) ?? NonEmpty(Environment.GetEnvironmentVariable(RendezvousVariable)),
        };
        return await OmniStoreClient.ConnectAsync(sources, options, cancellationToken);
    }

    private static string? NonEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    /// <summary>Opens the embedded store in <c>--store</c> (or the default directory), creating it if missing; <paramref name="sharedSecret"/> is for the nodes it dials (a repair's source).</summary>
    public OmniStoreClient OpenEmbedded(ParseResult parseResult, int chunkSize, byte[]? sharedSecret = null)
    {
        string? given = parseResult.GetValue(Store);
        string directory = StoreDirectory.Resolve(given, Store.Name);
        StoreDirectory.Create(directory, Store.Name, isDefault: given is null);
        return OmniStoreClient.OpenEmbedded(new OmniStoreOptions
        {
            DataDirectory = directory,
            ChunkSize = chunkSize,
            SharedSecret = sharedSecret,
        });
    }

    /// <summary>The tree's shared secret: <c>--secret-file</c>, else <c>$OMNISTORE_SECRET_FILE</c>, else none.</summary>
    public byte[]? Secret(ParseResult parseResult) =>
        parseResult.GetValue(SecretFile) is { } path ? Cli.SecretFile.Read(path) : Internal.SecretFile.FromEnvironment();
}
