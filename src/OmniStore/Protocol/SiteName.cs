using System.Text;
using OmniStore.Internal;

namespace OmniStore.Protocol;

/// <summary>
/// The rules of site names (docs/protocol.md, "Handshake"): at most <see cref="MaxLength"/> ASCII
/// letters, digits, <c>-</c>, <c>.</c>, <c>_</c> and <c>:</c>. Every host name qualifies, and a site
/// shows as it is in logs, status and metrics labels, with nothing to escape. Clients send an empty site.
/// </summary>
internal static class SiteName
{
    /// <summary>The longest site name, in bytes (which are characters: the name is ASCII).</summary>
    public const int MaxLength = 64;

    /// <summary>The rule in words, for error messages.</summary>
    public const string Rule = "at most 64 characters, each an ASCII letter, a digit, '-', '.', '_' or ':'";

    /// <summary>Whether <paramref name="site"/> is a valid site name (the empty name is: it means none); <paramref name="problem"/> says why not.</summary>
    public static bool IsValid(string site, out string? problem)
    {
        problem = null;
        if (site.Length > MaxLength)
        {
            problem = $"the site name '{Quote(site)}' has {site.Length} characters; a site name has {Rule}";
            return false;
        }

        foreach (char c in site)
        {
            if (!IsAllowed(c))
            {
                problem = $"the site name '{Quote(site)}' holds '{UntrustedText.Escape(c.ToString())}'; a site name has {Rule}";
                return false;
            }
        }

        return true;
    }

    /// <summary>Reads a site name off the wire; <see cref="OmniStoreError.ProtocolError"/> unless it follows the rules.</summary>
    public static string Decode(ReadOnlySpan<byte> ascii)
    {
        string? problem = null;
        if (ascii.Length > MaxLength)
        {
            problem = $"the site name '{Quote(Encoding.UTF8.GetString(ascii[..MaxLength]))}...' has {ascii.Length} bytes; a site name has {Rule}";
        }
        else
        {
            foreach (byte b in ascii)
            {
                if (b >= 0x80 || !IsAllowed((char)b))
                {
                    problem = $"the site name '{Quote(Encoding.UTF8.GetString(ascii))}' holds byte 0x{b:X2}; a site name has {Rule}";
                    break;
                }
            }
        }

        return problem is null
            ? Encoding.ASCII.GetString(ascii)
            : throw new OmniStoreException(OmniStoreError.ProtocolError, $"Invalid HELLO: {problem}.");
    }

    /// <summary>
    /// A valid site name made from a host name: characters outside the rule become '-', and the
    /// name is cut to <see cref="MaxLength"/>. For the default site (the host name), which must never
    /// keep a node from starting.
    /// </summary>
    public static string FromHostName(string? host)
    {
        var site = new StringBuilder(MaxLength);
        foreach (char c in host ?? string.Empty)
        {
            if (site.Length == MaxLength)
            {
                break;
            }

            site.Append(IsAllowed(c) ? c : '-');
        }

        return site.Length > 0 ? site.ToString() : "node";
    }

    private static bool IsAllowed(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or ':';

    private static string Quote(string text) => UntrustedText.Escape(text, MaxLength);
}
