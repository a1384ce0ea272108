using System.CommandLine;
using OmniStore.Content;

namespace OmniStore.Cli;

/// <summary>
/// The options that choose the store a command talks to. Today that is an embedded store in a
/// directory (<c>--store</c>); a remote node (<c>--relay URI</c>) will be chosen here too, so the
/// commands themselves only ever call <see cref="Open"/>.
/// </summary>
internal sealed class StoreConnectionOptions
{
    public Option<string> Store { get; } = new("--store")
    {
        Description = "The store directory (the OMNISTORE_DATA environment variable, if set, changes the default)",
        HelpName = "DIR",
        DefaultValueFactory = _ => OmniStoreOptions.DefaultDataDirectory,
        Validators = { CommandLineValidators.NonEmpty },
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command) => command.Options.Add(Store);

    /// <summary>Opens the store the command line names, with <paramref name="chunkSize"/> for Puts.</summary>
    public OmniStoreClient Open(ParseResult parseResult, int chunkSize = ChunkLayout.DefaultChunkSize) =>
        OmniStoreClient.OpenEmbedded(new OmniStoreOptions
        {
            DataDirectory = parseResult.GetRequiredValue(Store),
            ChunkSize = chunkSize,
        });
}
