using System.Collections;
using OmniStore.Internal;

namespace OmniStore.Cli.Configuration;

/// <summary>
/// Reads the <c>OMNISTORE_*</c> variables of configuration keys (<see cref="ConfigurationKey.Variable"/>):
/// each sets its key over the file and the command line, so that a unit file, a container or a
/// pod can change one setting without rewriting the command. A variable set to nothing (or only
/// spaces) is taken as not set. Lists are comma-separated; booleans are true/false, 1/0, yes/no
/// or on/off. Variables are as hostile as files: a control character is refused.
/// </summary>
internal static class ConfigurationEnvironment
{
    /// <summary>The values the variables in <paramref name="environment"/> give to <paramref name="keys"/>, by key name.</summary>
    /// <exception cref="UsageException">A variable's value cannot be one of its key.</exception>
    public static Dictionary<string, ConfiguredValue> Read(IReadOnlyList<ConfigurationKey> keys, IDictionary environment)
    {
        var values = new Dictionary<string, ConfiguredValue>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (environment[key.Variable] is not string raw || string.IsNullOrWhiteSpace(raw))
            {
                continue;
            }

            string where = $"${key.Variable}";
            string text = raw.Trim();
            if (text.Length > ConfigurationFile.MaxValueLength || text.Any(char.IsControl))
            {
                throw new UsageException($"{where}: '{UntrustedText.Escape(text, 128)}' is not a value of {key.Flag} (a control character, or too long).");
            }

            string[] tokens = key.Kind switch
            {
                ConfigurationValueKind.List => List(text, key, where),
                ConfigurationValueKind.Boolean => [Boolean(text, where)],
                _ => [text],
            };
            values[key.Name] = new ConfiguredValue(tokens, ConfigurationSource.Environment, where);
        }

        return values;
    }

    private static string[] List(string text, ConfigurationKey key, string where)
    {
        string[] elements = [.. text.Split(',').Select(e => e.Trim())];
        if (elements.Any(e => e.Length == 0))
        {
            throw new UsageException($"{where}: an empty element in '{UntrustedText.Escape(text, 256)}'; separate the values of {key.Flag} with single commas.");
        }

        return elements;
    }

    private static string Boolean(string text, string where) => text.ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "on" => "true",
        "false" or "0" or "no" or "off" => "false",
        _ => throw new UsageException($"{where}: '{UntrustedText.Escape(text, 64)}' is not true or false (nor 1/0, yes/no, on/off)."),
    };
}
