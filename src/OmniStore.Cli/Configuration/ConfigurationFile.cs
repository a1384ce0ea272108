using System.Globalization;
using System.Text;
using OmniStore.Internal;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace OmniStore.Cli.Configuration;

/// <summary>
/// Reads a <c>--config</c> file: TOML (1.1), one top-level key per option, named as the option
/// without its leading <c>--</c>:
/// <code>
/// listen = ["tcp://0.0.0.0:7070"]
/// parent = "tcp://root.example.org:7070"
/// cache-size = "200G"
/// open-relays = false
/// </code>
/// TOML rather than JSON because people write these files: comments, no quoting of keys, no
/// trailing-comma errors, and distinct integer, boolean and string types that catch a value of the
/// wrong kind. Parsed with Tomlyn's syntax tree (no reflection, NativeAOT-safe), which keeps the
/// line of every key for the error messages. The file is read as hostile input: at most
/// <see cref="MaxFileBytes"/>, a regular file, no table, no key twice, no key that is not an option,
/// no control character in a value, and each value of the type its key holds; every value then
/// goes through the same checks as on the command line.
/// </summary>
internal static class ConfigurationFile
{
    /// <summary>The largest configuration file read: a few kilobytes are plenty for every key.</summary>
    public const int MaxFileBytes = 1 << 20;

    /// <summary>The longest value: longer than any path or address a node can use.</summary>
    public const int MaxValueLength = 4096;

    /// <summary>The most elements of a list (more than any option accepts, so its own check names the limit).</summary>
    public const int MaxListLength = 64;

    /// <summary>Reads <paramref name="path"/>; the values of <paramref name="keys"/> it sets, by key name.</summary>
    /// <exception cref="UsageException">The file is not a valid configuration: says where and why.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static Dictionary<string, ConfiguredValue> Read(string path, IReadOnlyList<ConfigurationKey> keys)
    {
        string fullPath = System.IO.Path.GetFullPath(path);
        string text = ReadText(fullPath);
        return Parse(text, fullPath, keys);
    }

    /// <summary>Parses <paramref name="text"/>, the contents of <paramref name="path"/> (for messages and relative paths).</summary>
    /// <exception cref="UsageException">The text is not a valid configuration.</exception>
    public static Dictionary<string, ConfiguredValue> Parse(string text, string path, IReadOnlyList<ConfigurationKey> keys)
    {
        string shown = UntrustedText.Escape(path, 256);
        var document = SyntaxParser.Parse(text, shown, validate: true);
        if (document.Diagnostics.FirstOrDefault(d => d.Kind == DiagnosticMessageKind.Error) is { } error)
        {
            throw new UsageException($"{shown} line {error.Span.Start.Line + 1}: {UntrustedText.Escape(error.Message, 256)} (the file is TOML: key = value, one a line).");
        }

        if (document.Tables.FirstOrDefault() is { } table)
        {
            throw new UsageException($"{shown} line {table.Span.Start.Line + 1}: a table ([{UntrustedText.Escape(table.Name?.ToString()?.Trim(), 64)}]) is not a setting; every key goes at the top of the file, named as the option without its leading -- (tls-cert = \"node.pem\").");
        }

        string folder = System.IO.Path.GetDirectoryName(path) ?? "/";
        var byName = keys.ToDictionary(k => k.Name, StringComparer.Ordinal);
        var values = new Dictionary<string, ConfiguredValue>(StringComparer.Ordinal);
        foreach (var pair in document.KeyValues)
        {
            int line = pair.Span.Start.Line + 1;
            string where = string.Create(CultureInfo.InvariantCulture, $"{shown} line {line}");
            string name = KeyName(pair.Key);
            if (!byName.TryGetValue(name, out var key))
            {
                throw new UsageException($"{where}: unknown key '{UntrustedText.Escape(name, 64)}'{Suggest(name, keys)}. The keys are the options of the command without their leading --.");
            }

            var tokens = Tokens(pair.Value, key, where, folder);
            values[key.Name] = new ConfiguredValue(tokens, ConfigurationSource.File, where);
        }

        return values;
    }

    private static string ReadText(string path)
    {
        try
        {
            if (!UnixFileType.IsRegular(path))
            {
                throw new IOException($"cannot read the configuration file {UntrustedText.Escape(path, 256)}: not a regular file.");
            }

            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.None);
            var buffer = new byte[MaxFileBytes + 1];
            int length = 0;
            int read;
            while (length < buffer.Length && (read = file.Read(buffer, length, buffer.Length - length)) > 0)
            {
                length += read;
            }

            if (length > MaxFileBytes)
            {
                throw new UsageException($"{UntrustedText.Escape(path, 256)}: a configuration file is at most {MaxFileBytes / 1024} KiB; this one is larger.");
            }

            try
            {
                return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(buffer, 0, length);
            }
            catch (DecoderFallbackException)
            {
                throw new UsageException($"{UntrustedText.Escape(path, 256)}: a configuration file is UTF-8 text; this one is not.");
            }
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new IOException($"cannot read the configuration file {UntrustedText.Escape(path, 256)}: it does not exist.", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new IOException($"cannot read the configuration file {UntrustedText.Escape(path, 256)}: permission denied.", ex);
        }
    }

    /// <summary>The key as written: a bare key or a quoted one; a dotted key (a.b) is kept whole, and so unknown.</summary>
    private static string KeyName(KeySyntax? key)
    {
        if (key is null)
        {
            return "";
        }

        var name = new StringBuilder(Part(key.Key));
        foreach (var dotted in key.DotKeys)
        {
            name.Append('.').Append(Part(dotted.Key));
        }

        return name.ToString();

        static string Part(BareKeyOrStringValueSyntax? part) => part switch
        {
            BareKeySyntax bare => bare.Key?.Text ?? "",
            StringValueSyntax quoted => quoted.Value ?? "",
            _ => "",
        };
    }

    /// <summary>The value as command-line tokens, checked against the kind its key holds.</summary>
    private static string[] Tokens(ValueSyntax? value, ConfigurationKey key, string where, string folder)
    {
        string Wrong(string expected) =>
            $"{where}: {key.Name} is {expected}; found {Describe(value)}.";

        switch (key.Kind)
        {
            case ConfigurationValueKind.Boolean:
                return value is BooleanValueSyntax flag ? [flag.Value ? "true" : "false"] : throw new UsageException(Wrong("true or false"));
            case ConfigurationValueKind.Integer:
                return value is IntegerValueSyntax integer ? [integer.Value.ToString(CultureInfo.InvariantCulture)] : throw new UsageException(Wrong("an integer, such as 16"));
            case ConfigurationValueKind.Size:
                return value switch
                {
                    IntegerValueSyntax bytes when bytes.Value >= 0 => [bytes.Value.ToString(CultureInfo.InvariantCulture)],
                    StringValueSyntax text => [Text(text, key, where)],
                    _ => throw new UsageException(Wrong($"a size: a string such as \"200G\" ({ByteSize.Syntax}), or an integer number of bytes")),
                };
            case ConfigurationValueKind.Duration:
                return value is StringValueSyntax duration ? [Text(duration, key, where)] : throw new UsageException(Wrong("a duration: a string with its unit, such as \"30s\", \"500ms\" or \"5m\""));
            case ConfigurationValueKind.List:
                if (value is StringValueSyntax one)
                {
                    return [Text(one, key, where)];
                }

                if (value is not ArraySyntax array)
                {
                    throw new UsageException(Wrong("an array of strings, such as [\"tcp://0.0.0.0:7070\"]"));
                }

                if (array.Items.ChildrenCount == 0)
                {
                    throw new UsageException($"{where}: {key.Name} is an empty array; give at least one value, or leave the key out.");
                }

                if (array.Items.ChildrenCount > MaxListLength)
                {
                    throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{where}: {key.Name} has {array.Items.ChildrenCount} values; at most {MaxListLength}."));
                }

                return [.. array.Items.Select(item => item.Value is StringValueSyntax element ? Text(element, key, where) : throw new UsageException(Wrong("an array of strings, such as [\"tcp://0.0.0.0:7070\"]")))];
            case ConfigurationValueKind.Path:
                if (value is not StringValueSyntax file)
                {
                    throw new UsageException(Wrong("a string: a path"));
                }

                string path = Text(file, key, where);

                // Relative to the file's folder, as a unit file or a container mounts them together.
                return [path.Length == 0 ? path : System.IO.Path.GetFullPath(path, folder)];
            default:
                return value is StringValueSyntax plain ? [Text(plain, key, where)] : throw new UsageException(Wrong("a string"));
        }
    }

    /// <summary>A string value, refused if it holds a control character or is longer than any setting needs.</summary>
    private static string Text(StringValueSyntax value, ConfigurationKey key, string where)
    {
        string text = value.Value ?? "";
        if (text.Length > MaxValueLength)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{where}: the value of {key.Name} is {text.Length} characters long; at most {MaxValueLength}."));
        }

        if (text.Any(char.IsControl))
        {
            throw new UsageException($"{where}: the value of {key.Name} holds a control character ('{UntrustedText.Escape(text, 128)}').");
        }

        return text;
    }

    private static string Describe(ValueSyntax? value) => value switch
    {
        StringValueSyntax => "a string",
        IntegerValueSyntax => "an integer",
        BooleanValueSyntax => "a boolean",
        FloatValueSyntax => "a float",
        DateTimeValueSyntax => "a date",
        ArraySyntax => "an array",
        InlineTableSyntax => "a table",
        _ => "no value",
    };

    /// <summary>" (did you mean 'cache-size'?)" for a key one or two edits from a real one, else nothing.</summary>
    private static string Suggest(string name, IReadOnlyList<ConfigurationKey> keys)
    {
        var nearest = keys.Select(k => (k.Name, Distance: Distance(name, k.Name))).MinBy(k => k.Distance);
        return nearest.Name is not null && nearest.Distance <= 2 ? $" (did you mean '{nearest.Name}'?)" : "";
    }

    /// <summary>The Levenshtein distance, for names of a few dozen characters.</summary>
    private static int Distance(string a, string b)
    {
        if (a.Length > 128 || b.Length > 128)
        {
            return int.MaxValue;
        }

        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), substitution);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
