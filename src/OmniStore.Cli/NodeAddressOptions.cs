using System.CommandLine.Parsing;
using System.Diagnostics.CodeAnalysis;
using OmniStore.Transport.Internal;

namespace OmniStore.Cli;

/// <summary>Checks of address options while parsing, so that a bad address is a usage error that names the option.</summary>
internal static class NodeAddressOptions
{
    /// <summary>
    /// Every value must be a node address, <c>tcp://HOST:PORT</c>, or a comma-separated list of them;
    /// the message is the library's (the one address parser), labelled with the option.
    /// </summary>
    public static void Validate(OptionResult result)
    {
        foreach (var token in result.Tokens)
        {
            if (AddressGrammar.TryParseList([(result.Option.Name, token.Value)], AddressSchemes.Default, out _) is { } error)
            {
                result.AddError(error + ".");
            }
        }
    }

    /// <summary>The value must be <c>http://HOST:PORT</c> (port 0 picks a free port).</summary>
    public static void ValidateHttpListen(OptionResult result)
    {
        foreach (var token in result.Tokens)
        {
            if (!TryParseHttp(token.Value, forClient: false, out _, out string? problem))
            {
                result.AddError($"{result.Option.Name}: '{AddressGrammar.Quote(token.Value)}' {problem}.");
            }
        }
    }

    /// <summary>
    /// Parses <c>http://HOST:PORT</c> (also https, and with a path, when <paramref name="forClient"/>);
    /// <paramref name="problem"/> says what is wrong. The port must be written out.
    /// </summary>
    public static bool TryParseHttp(string? text, bool forClient, [NotNullWhen(true)] out Uri? uri, out string? problem)
    {
        uri = null;
        problem = null;
        string[] schemes = forClient ? ["http", "https"] : ["http"];
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text, UriKind.Absolute, out var parsed) || !schemes.Contains(parsed.Scheme))
        {
            problem = "is not an http:// address: expected http://HOST:PORT, for example http://127.0.0.1:9100";
            return false;
        }

        // Uri hides a port equal to the scheme's default, so look at what was written.
        string afterScheme = text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..];
        int slash = afterScheme.IndexOf('/', StringComparison.Ordinal);
        string authority = slash < 0 ? afterScheme : afterScheme[..slash];
        int colon = authority.LastIndexOf(':');
        if (colon < 0 || colon < authority.LastIndexOf(']') || colon == authority.Length - 1 || !authority[(colon + 1)..].All(char.IsAsciiDigit))
        {
            problem = "has no port: expected http://HOST:PORT";
            return false;
        }

        if (!forClient && (parsed.AbsolutePath != "/" || parsed.Query.Length > 0 || parsed.UserInfo.Length > 0))
        {
            problem = "has more than a host and a port: only http://HOST:PORT is allowed (the listener serves /status and /metrics)";
            return false;
        }

        uri = parsed;
        return true;
    }
}
