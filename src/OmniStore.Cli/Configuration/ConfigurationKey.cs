using System.CommandLine;
using Microsoft.Extensions.Logging;
using OmniStore.Cli.Daemon;
using OmniStore.Transport;

namespace OmniStore.Cli.Configuration;

/// <summary>
/// One key of a configuration file: an option of the command, named without its leading <c>--</c>,
/// with its environment variable (<c>OMNISTORE_</c> and the name in capitals, <c>-</c> as <c>_</c>).
/// Every option of a configurable command is a key (<see cref="For(Command)"/>): a new option gets
/// one without a line of configuration code, and an option of a type no key can hold fails there.
/// </summary>
internal sealed record ConfigurationKey(string Name, Option Option, ConfigurationValueKind Kind)
{
    public const string VariablePrefix = "OMNISTORE_";

    /// <summary>The environment variable that sets this key, over the file and the command line.</summary>
    public string Variable => VariablePrefix + Name.ToUpperInvariant().Replace('-', '_');

    /// <summary>The option as written on a command line, <c>--cache-size</c>.</summary>
    public string Flag => Option.Name;

    /// <summary>The keys of <paramref name="command"/>: each of its options but <c>--config</c> (and help).</summary>
    /// <exception cref="InvalidOperationException">An option's type has no key kind (a new kind of value to teach this class).</exception>
    public static IReadOnlyList<ConfigurationKey> For(Command command) =>
        [.. command.Options.Where(o => o is not ConfigFileOption && o.Name.StartsWith("--", StringComparison.Ordinal) && !o.Recursive).Select(For)];

    /// <summary>The key of one option.</summary>
    public static ConfigurationKey For(Option option)
    {
        var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        var kind = type switch
        {
            _ when type == typeof(bool) => ConfigurationValueKind.Boolean,
            _ when type == typeof(int) => ConfigurationValueKind.Integer,
            _ when type == typeof(long) => ConfigurationValueKind.Size,
            _ when type == typeof(TimeSpan) => ConfigurationValueKind.Duration,
            _ when type == typeof(NodeAddress[]) => ConfigurationValueKind.List,
            _ when type == typeof(string) && option.HelpName is "FILE" or "DIR" => ConfigurationValueKind.Path,
            _ when type == typeof(string) || type == typeof(Uri) || type == typeof(NodeAddress) || type == typeof(PeerAddress)
                || type == typeof(LogLevel) || type == typeof(LogFormat) => ConfigurationValueKind.Text,
            _ => throw new InvalidOperationException($"{option.Name} holds a {type.Name}, which no configuration key kind describes; add it to {nameof(ConfigurationKey)}.{nameof(For)}."),
        };
        return new ConfigurationKey(option.Name[2..], option, kind);
    }
}
