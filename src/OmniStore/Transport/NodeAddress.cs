using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace OmniStore.Transport;

/// <summary>
/// Where a node listens: <c>tcp://host:port</c> (and, later, <c>rudp://host:port</c>). Parsed once,
/// up front, so a bad address fails at startup rather than at the first connection.
/// </summary>
public sealed record NodeAddress(string Scheme, string Host, int Port)
{
    /// <summary>The schemes this build can connect to and listen on.</summary>
    public static IReadOnlyList<string> SupportedSchemes => TransportRegistry.Default.Schemes;

    /// <summary>Parses <paramref name="text"/>; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static NodeAddress Parse(string text) =>
        TryParse(text, out var address, out string? problem) ? address : throw new FormatException($"'{text}' is not a node address: {problem}.");

    /// <summary>Parses <paramref name="text"/>; <paramref name="problem"/> says what is wrong when it fails.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out NodeAddress? address, out string? problem)
    {
        address = null;
        problem = null;
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            problem = "expected scheme://host:port, for example tcp://127.0.0.1:7070";
            return false;
        }

        if (!SupportedSchemes.Contains(uri.Scheme))
        {
            problem = $"the scheme '{uri.Scheme}' is not supported (use {string.Join(", ", SupportedSchemes.Select(s => s + "://"))})";
            return false;
        }

        if (uri.IsDefaultPort || uri.Port is < 0 or > 65535)
        {
            problem = "a port is required (0 lets a listener pick one)";
            return false;
        }

        if (uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
        {
            problem = "only scheme, host and port are allowed";
            return false;
        }

        address = new NodeAddress(uri.Scheme, uri.Host.Trim('[', ']'), uri.Port);
        return true;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Scheme}://{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}");
}
