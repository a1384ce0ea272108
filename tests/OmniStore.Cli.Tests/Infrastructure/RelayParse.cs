using System.Collections;
using System.CommandLine;
using OmniStore.Cli.Configuration;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>
/// Parses an <c>omnistore</c> command line in this process, as the command does before it runs:
/// the relay's (and <c>config show</c>'s) settings merged from a <c>--config</c> file, the options
/// and the given environment. Fast: for checking configurations without starting a node.
/// </summary>
public static class RelayParse
{
    public static ParseResult Parse(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var root = OmniStoreCommandLine.Create();
        var variables = new Hashtable();
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            variables[name] = value;
        }

        return RelayConfiguration.Resolve(root, root.Parse(args), variables);
    }

    /// <summary>The errors as the command reports them (naming the file, line and key of a value from a file).</summary>
    public static string Errors(ParseResult parseResult) =>
        string.Join(" ", parseResult.Errors.Select(e => RelayConfiguration.Of(parseResult)?.Describe(e) ?? e.Message));

    /// <summary>The value the parse gives the option <c>--NAME</c> of its command (its default when nothing set it), as comparable text.</summary>
    public static string? ValueOf(ParseResult parseResult, string name) =>
        ValueOf(parseResult, parseResult.CommandResult.Command.Options.Single(o => o.Name == "--" + name));

    /// <summary>The value the parse gives an option (its default when nothing set it), as comparable text.</summary>
    public static string? ValueOf(ParseResult parseResult, Option option) =>
        parseResult.GetResult(option)?.GetValueOrDefault<object?>() switch
        {
            null => null,
            IEnumerable sequence and not string => string.Join(",", sequence.Cast<object?>().Select(e => e?.ToString())),
            var value => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
        };
}
