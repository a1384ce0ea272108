using System.CommandLine;
using System.Globalization;
using System.Text;

namespace OmniStore.Cli.Configuration;

/// <summary>
/// The effective configuration as <c>omnistore config show</c> prints it: one line per key, in
/// TOML, with where its value came from in a comment; a key nothing set is a comment with its
/// default. The output is itself a configuration file that sets what was set.
/// </summary>
internal static class ConfigurationText
{
    /// <summary>The column the source comments start at.</summary>
    private const int CommentColumn = 48;

    public static string Format(ParseResult parseResult, RelayConfiguration configuration)
    {
        var text = new StringBuilder();
        text.Append("# omnistore ").Append(parseResult.CommandResult.Command.Name == "show" ? "relay" : parseResult.CommandResult.Command.Name)
            .Append(": the effective configuration; each value's source after it (default < file < flag < environment)\n");
        if (configuration.File is { } file)
        {
            text.Append("# file: ").Append(OmniStore.Internal.UntrustedText.Escape(file, 256)).Append('\n');
        }

        foreach (var key in configuration.Keys)
        {
            string line;
            string source;
            if (configuration.Values.TryGetValue(key.Name, out var value))
            {
                line = $"{key.Name} = {Value(key, value.Tokens)}";
                source = value.Source switch
                {
                    ConfigurationSource.File => $"file, {value.Origin}",
                    ConfigurationSource.Flag => $"flag {value.Origin}",
                    _ => $"environment {value.Origin}",
                };
            }
            else
            {
                line = Default(parseResult, key) is { } shown ? $"# {key.Name} = {shown}" : $"# {key.Name} is not set";
                source = "default";
            }

            text.Append(line);
            text.Append(' ', Math.Max(1, CommentColumn - line.Length));
            text.Append("# ").Append(source).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>A value given as tokens, written as TOML for its kind.</summary>
    private static string Value(ConfigurationKey key, IReadOnlyList<string> tokens) => key.Kind switch
    {
        ConfigurationValueKind.List => $"[{string.Join(", ", tokens.Select(Quote))}]",
        ConfigurationValueKind.Boolean when tokens is [var flag] && flag is "true" or "false" => flag,
        ConfigurationValueKind.Integer or ConfigurationValueKind.Size when tokens is [var number] && number.Length is > 0 and < 19 && number.All(char.IsAsciiDigit) => number,
        _ => tokens is [var one] ? Quote(one) : $"[{string.Join(", ", tokens.Select(Quote))}]",
    };

    /// <summary>The default the parse gave <paramref name="key"/>, written as TOML; null when it has none (the option stays unset).</summary>
    private static string? Default(ParseResult parseResult, ConfigurationKey key)
    {
        if (parseResult.GetResult(key.Option) is not { } result)
        {
            return null;
        }

        object? value = result.GetValueOrDefault<object?>();
        return value switch
        {
            null => null,
            bool b => b ? "true" : "false",
            int or long => Convert.ToString(value, CultureInfo.InvariantCulture),
            TimeSpan duration => Quote(Duration(duration)),
            Enum named => Quote(named.ToString().ToLowerInvariant()),
            _ => Quote(Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""),
        };
    }

    /// <summary>A duration as the options take it: 10s, 5m, 1h, 250ms.</summary>
    public static string Duration(TimeSpan duration)
    {
        var c = CultureInfo.InvariantCulture;
        if (duration == TimeSpan.Zero)
        {
            return "0";
        }

        if (duration.Ticks % TimeSpan.TicksPerHour == 0)
        {
            return string.Create(c, $"{duration.Ticks / TimeSpan.TicksPerHour}h");
        }

        if (duration.Ticks % TimeSpan.TicksPerMinute == 0)
        {
            return string.Create(c, $"{duration.Ticks / TimeSpan.TicksPerMinute}m");
        }

        if (duration.Ticks % TimeSpan.TicksPerSecond == 0)
        {
            return string.Create(c, $"{duration.Ticks / TimeSpan.TicksPerSecond}s");
        }

        return string.Create(c, $"{duration.TotalMilliseconds}ms");
    }

    /// <summary>A TOML basic string: quotes and backslashes escaped, control characters as \uXXXX.</summary>
    public static string Quote(string text)
    {
        var quoted = new StringBuilder(text.Length + 2).Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"':
                    quoted.Append("\\\"");
                    break;
                case '\\':
                    quoted.Append("\\\\");
                    break;
                default:
                    if (char.IsControl(c))
                    {
                        quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
                    }
                    else
                    {
                        quoted.Append(c);
                    }

                    break;
            }
        }

        return quoted.Append('"').ToString();
    }
}
