using System.CommandLine;
using System.CommandLine.Parsing;
using OmniStore.Content;
using OmniStore.Transport;

namespace OmniStore.Cli;

/// <summary>
/// The options that choose the store a command talks to: a relay or root over the network
/// (<c>--relay URI</c>, default <c>$OMNISTORE_RELAY</c>), else the embedded store in a directory
/// (<c>--store</c>). The commands themselves only ever call <c>OpenAsync</c>.
/// </summary>
internal sealed class StoreConnectionOptions
{
    public const string RelayVariable = "OMNISTORE_RELAY";
    public const string FallbackVariable = "OMNISTORE_FALLBACK";

    public Option<string> Store { get; } = new("--store")
    {
        Description = "The embedded store's directory, used when no relay is given (the OMNISTORE_DATA environment variable, if set, changes the default)",
        HelpName = "DIR",
        DefaultValueFactory = _ => OmniStoreOptions.DefaultDataDirectory,
        Validators = { CommandLineValidators.NonEmpty },
    };

    public Option<string?> Relay { get; } = new("--relay")
    {
        Description = $"The relay or root to talk to, tcp://HOST:PORT (default: ${RelayVariable}; without either, the embedded store)",
        HelpName = "URI",
        Validators = { NodeAddressOptions.Validate },
    };

    public Option<string[]> Fallback { get; } = new("--fallback")
    {
        Description = $"Another node to move to when the relay is unreachable, tcp://HOST:PORT; repeat for more, tried in order (default: ${FallbackVariable}, comma-separated)",
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

    /// <summary>Adds the options to <paramref name="command"/>, with the check that --relay and --store exclude each other.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Relay);
        command.Options.Add(Fallback);
        command.Options.Add(SecretFile);
        command.Options.Add(Store);
        command.Validators.Add(result =>
        {
            if (result.GetResult(Relay) is { Implicit: false } && result.GetResult(Store) is { Implicit: false })
            {
                result.AddError("--relay and --store exclude each other: a command talks to a relay or to an embedded store.");
            }
        });
    }

    /// <summary>
    /// The relay the command line names: <c>--relay</c>, else <c>$OMNISTORE_RELAY</c> unless
    /// <c>--store</c> was given explicitly; null for the embedded store.
    /// </summary>
    public string? RelayUri(ParseResult parseResult)
    {
        if (parseResult.GetValue(Relay) is { } relay)
        {
            return relay;
        }

        if (parseResult.GetResult(Store) is { Implicit: false })
        {
            return null;
        }

        string? fromEnvironment = Environment.GetEnvironmentVariable(RelayVariable)?.Trim();
        if (string.IsNullOrEmpty(fromEnvironment))
        {
            return null;
        }

        return NodeAddress.TryParse(fromEnvironment, out _, out string? problem)
            ? fromEnvironment
            : throw new UsageException($"${RelayVariable} is '{fromEnvironment}': {problem}.");
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
        string? relay = RelayUri(parseResult);
        string[] fallbacks = parseResult.GetValue(Fallback) ?? [];
        string? secretPath = parseResult.GetValue(SecretFile);
        if (relay is null)
        {
            if (fallbacks.Length > 0 || secretPath is not null)
            {
                throw new UsageException($"{(fallbacks.Length > 0 ? "--fallback" : "--secret-file")} applies to a relay: give --relay URI (or set ${RelayVariable}).");
            }

            return OmniStoreClient.OpenEmbedded(new OmniStoreOptions
            {
                DataDirectory = parseResult.GetRequiredValue(Store),
                ChunkSize = chunkSize,
            });
        }

        if (fallbacks.Length == 0 && Environment.GetEnvironmentVariable(FallbackVariable) is { Length: > 0 } fromEnvironment)
        {
            fallbacks = fromEnvironment.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (string uri in fallbacks)
            {
                if (!NodeAddress.TryParse(uri, out _, out string? problem))
                {
                    throw new UsageException($"${FallbackVariable} holds '{uri}': {problem}.");
                }
            }
        }

        var options = new OmniStoreOptions
        {
            DataDirectory = parseResult.GetRequiredValue(Store),
            ChunkSize = chunkSize,
            FallbackUris = fallbacks,
            SharedSecret = secretPath is null ? Internal.SecretFile.FromEnvironment() : Cli.SecretFile.Read(secretPath),
        };
        return await OmniStoreClient.ConnectAsync(relay, options, cancellationToken);
    }
}
