using System.Collections;
using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Runtime.CompilerServices;
using OmniStore.Internal;

namespace OmniStore.Cli.Configuration;

/// <summary>
/// The settings of a configurable command (<c>omnistore relay</c>, <c>omnistore config show</c>):
/// each key takes its value from, in order of strength, its <c>OMNISTORE_*</c> variable, the
/// command line, the <c>--config</c> file, and the option's default. The merged values are given
/// back to the command's own parser as command-line tokens, so a value from a file or a variable
/// goes through exactly the checks a flag does; an error about it names where it came from.
/// </summary>
internal sealed class RelayConfiguration
{
    private static readonly ConditionalWeakTable<ParseResult, RelayConfiguration> Attached = new();

    private readonly Dictionary<Option, ConfigurationKey> _byOption;

    private RelayConfiguration(IReadOnlyList<ConfigurationKey> keys, IReadOnlyDictionary<string, ConfiguredValue> values, string? file)
    {
        Keys = keys;
        Values = values;
        File = file;
        _byOption = keys.ToDictionary(k => k.Option);
    }

    /// <summary>Every key of the command, in the order of its options.</summary>
    public IReadOnlyList<ConfigurationKey> Keys { get; }

    /// <summary>The keys that something set, by name, with where from; a key absent here has its default.</summary>
    public IReadOnlyDictionary<string, ConfiguredValue> Values { get; }

    /// <summary>The configuration file, as a full path, when one was given.</summary>
    public string? File { get; }

    /// <summary>
    /// Which keys came from the file and from variables, in one line for the start of the log
    /// ("file /etc/omnistore/relay.toml: listen, parent; command line: data-dir; environment:
    /// OMNISTORE_SITE"); null when everything came from the command line.
    /// </summary>
    public string? Summary
    {
        get
        {
            if (Values.Values.All(v => v.Source == ConfigurationSource.Flag))
            {
                return null;
            }

            var parts = new List<string>();
            string Names(ConfigurationSource source, Func<ConfigurationKey, string> name) =>
                string.Join(", ", Keys.Where(k => Values.TryGetValue(k.Name, out var v) && v.Source == source).Select(name));
            if (File is not null)
            {
                string fromFile = Names(ConfigurationSource.File, k => k.Name);
                parts.Add($"file {UntrustedText.Escape(File, 256)}: {(fromFile.Length > 0 ? fromFile : "nothing")}");
            }

            if (Names(ConfigurationSource.Flag, k => k.Flag) is { Length: > 0 } flags)
            {
                parts.Add($"command line: {flags}");
            }

            if (Names(ConfigurationSource.Environment, k => k.Variable) is { Length: > 0 } variables)
            {
                parts.Add($"environment: {variables}");
            }

            return string.Join("; ", parts);
        }
    }

    /// <summary>The configuration a parse was merged from, or null when it was not (a command that is not configurable).</summary>
    public static RelayConfiguration? Of(ParseResult parseResult) =>
        Attached.TryGetValue(parseResult, out var configuration) ? configuration : null;

    /// <summary>
    /// Merges the file, the command line and the environment of a configurable command and parses
    /// the result; returns <paramref name="commandLine"/> as it is when the command is not
    /// configurable, when it asks for help, or when it has tokens no option takes or <c>--config</c>
    /// twice (those errors are reported as they are).
    /// </summary>
    /// <exception cref="UsageException">The file or a variable holds something that is not a setting.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static ParseResult Resolve(Command root, ParseResult commandLine, IDictionary environment)
    {
        var command = commandLine.CommandResult.Command;
        if (command.Options.OfType<ConfigFileOption>().FirstOrDefault() is not { } configOption
            || commandLine.UnmatchedTokens.Count > 0
            || commandLine.GetResult(configOption) is { Tokens.Count: > 1 }
            || (commandLine.Action is not ParseErrorAction && commandLine.Action != command.Action))
        {
            return commandLine;
        }

        var keys = ConfigurationKey.For(command);
        string? file = commandLine.GetResult(configOption) is { Implicit: false, Tokens: [var path, ..] } && path.Value.Length > 0 ? Path.GetFullPath(path.Value) : null;
        var fromFile = file is null ? [] : ConfigurationFile.Read(file, keys);
        var fromEnvironment = ConfigurationEnvironment.Read(keys, environment);
        var values = new Dictionary<string, ConfiguredValue>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (fromEnvironment.TryGetValue(key.Name, out var value) || TryFlag(commandLine, key, out value) || fromFile.TryGetValue(key.Name, out value))
            {
                values[key.Name] = value;
            }
        }

        var args = new List<string>();
        for (var result = commandLine.CommandResult; result.Parent is CommandResult parent; result = parent)
        {
            args.Insert(0, result.Command.Name);
        }

        if (file is not null)
        {
            Add(args, configOption.Name, file);
        }

        foreach (var key in keys)
        {
            if (values.TryGetValue(key.Name, out var value))
            {
                foreach (string token in value.Tokens)
                {
                    Add(args, key.Flag, token);
                }
            }
        }

        // No response files this time: "@..." in a file or a variable is a value, not a file to read.
        var merged = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        Attached.AddOrUpdate(merged, new RelayConfiguration(keys, values, file));
        return merged;
    }

    /// <summary>A parse error, saying where the value it is about came from when that was not the command line.</summary>
    public string Describe(ParseError error)
    {
        var option = error.SymbolResult switch
        {
            OptionResult result => result.Option,
            ArgumentResult { Parent: OptionResult result } => result.Option,
            _ => null,
        };
        if (option is null || !_byOption.TryGetValue(option, out var key) || !Values.TryGetValue(key.Name, out var value) || value.Source == ConfigurationSource.Flag)
        {
            return error.Message;
        }

        // The message names the option: say it as the key, and where its value was written.
        string message = error.Message.StartsWith(key.Flag + ":", StringComparison.Ordinal) ? error.Message[(key.Flag.Length + 1)..].TrimStart() : error.Message;
        return $"{value.Origin}: {key.Name}: {UntrustedText.Escape(message, 1024)}";
    }

    /// <summary>The value the command line gives <paramref name="key"/>, if it gives one (a flag alone, such as <c>--open-relays</c>, is true).</summary>
    private static bool TryFlag(ParseResult commandLine, ConfigurationKey key, out ConfiguredValue value)
    {
        if (commandLine.GetResult(key.Option) is { Implicit: false } result)
        {
            string[] tokens = [.. result.Tokens.Select(t => t.Value)];
            value = new ConfiguredValue(tokens.Length == 0 && key.Kind == ConfigurationValueKind.Boolean ? ["true"] : tokens, ConfigurationSource.Flag, key.Flag);
            return true;
        }

        value = null!;
        return false;
    }

    /// <summary>
    /// <c>--name=value</c>: one token, so a value that starts with "-" stays a value; an empty value
    /// as two tokens, since System.CommandLine drops an empty one after "=".
    /// </summary>
    private static void Add(List<string> args, string flag, string value)
    {
        if (value.Length == 0)
        {
            args.Add(flag);
            args.Add(value);
        }
        else
        {
            args.Add($"{flag}={value}");
        }
    }
}
