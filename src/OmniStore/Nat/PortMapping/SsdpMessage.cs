using System.Net;
using System.Text;

namespace OmniStore.Nat.PortMapping;

/// <summary>A gateway's answer to an M-SEARCH, as read: where its description is and what it answered for.</summary>
/// <param name="Location">The description's URL (http, its host the address the answer came from).</param>
/// <param name="SearchTarget">The ST it answered for.</param>
internal sealed record SsdpResponse(Uri Location, string SearchTarget);

/// <summary>
/// SSDP discovery (UPnP Device Architecture 1.1 section 1.3): the M-SEARCH request a control point
/// multicasts, and the unicast answers, read as hostile: at most <see cref="MaxResponseSize"/>
/// bytes of ASCII, a 200 status line, an ST that was searched for, and a LOCATION that is an http
/// URL naming, as an address, the host the answer came from (so an answer cannot send the client's
/// description and SOAP requests to a third host).
/// </summary>
internal static class SsdpMessage
{
    /// <summary>SSDP's multicast group and port.</summary>
    public static readonly IPEndPoint MulticastEndPoint = new(IPAddress.Parse("239.255.255.250"), 1900);

    /// <summary>The largest answer read; a real one has a few hundred bytes.</summary>
    public const int MaxResponseSize = 2048;

    /// <summary>The services searched for, the newest first: the ones that hold AddPortMapping.</summary>
    public static readonly IReadOnlyList<string> SearchTargets =
    [
        "urn:schemas-upnp-org:service:WANIPConnection:2",
        "urn:schemas-upnp-org:service:WANIPConnection:1",
        "urn:schemas-upnp-org:service:WANPPPConnection:1",
    ];

    /// <summary>An M-SEARCH for <paramref name="searchTarget"/> with <paramref name="maxWaitSeconds"/> as MX.</summary>
    public static byte[] EncodeSearch(string searchTarget, int maxWaitSeconds) => Encoding.ASCII.GetBytes(
        "M-SEARCH * HTTP/1.1\r\n" +
        "HOST: 239.255.255.250:1900\r\n" +
        "MAN: \"ssdp:discover\"\r\n" +
        $"MX: {maxWaitSeconds}\r\n" +
        $"ST: {searchTarget}\r\n" +
        "\r\n");

    /// <summary>Reads an answer that came from <paramref name="from"/>; null, with the reason in <paramref name="problem"/>, when it is not a usable one.</summary>
    public static SsdpResponse? TryParse(ReadOnlySpan<byte> datagram, IPAddress from, out string? problem)
    {
        if (datagram.Length > MaxResponseSize)
        {
            problem = $"an SSDP answer of {datagram.Length} bytes (at most {MaxResponseSize} are read)";
            return null;
        }

        foreach (byte b in datagram)
        {
            if (b is > 0x7e or (< 0x20 and not (byte)'\r' and not (byte)'\n' and not (byte)'\t'))
            {
                problem = "an SSDP answer that is not printable ASCII";
                return null;
            }
        }

        var lines = Encoding.ASCII.GetString(datagram).Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !status[0].StartsWith("HTTP/1.", StringComparison.OrdinalIgnoreCase) || status[1] != "200")
        {
            problem = $"an SSDP answer whose status line is '{Internal.UntrustedText.Escape(lines[0], 80)}'";
            return null;
        }

        string? location = null, searchTarget = null;
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("LOCATION", StringComparison.OrdinalIgnoreCase))
            {
                location = value;
            }
            else if (name.Equals("ST", StringComparison.OrdinalIgnoreCase))
            {
                searchTarget = value;
            }
        }

        if (searchTarget is null || !SearchTargets.Contains(searchTarget, StringComparer.OrdinalIgnoreCase))
        {
            problem = $"an SSDP answer for '{Internal.UntrustedText.Escape(searchTarget, 100)}', not a service searched for";
            return null;
        }

        if (location is null || !Uri.TryCreate(location, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp ||
            uri.HostNameType != UriHostNameType.IPv4 || !IPAddress.Parse(uri.Host).Equals(from.IsIPv4MappedToIPv6 ? from.MapToIPv4() : from))
        {
            problem = $"an SSDP answer from {from} whose LOCATION '{Internal.UntrustedText.Escape(location, 200)}' is not an http URL on that address";
            return null;
        }

        problem = null;
        return new SsdpResponse(uri, searchTarget);
    }
}
