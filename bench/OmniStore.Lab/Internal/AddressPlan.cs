using System.Globalization;
using System.Net;

namespace OmniStore.Lab.Internal;

/// <summary>
/// Every lab address comes from 198.18.0.0/15 (RFC 2544, reserved for benchmarking). Site i (the
/// master is 0) owns 198.18.i.0/24 for its hosts and 198.19.i.0/30 for its WAN link.
/// </summary>
internal static class AddressPlan
{
    /// <summary>The site's host: where its relay (or the master's root) listens.</summary>
    public static IPAddress SiteHost(int site) => Address(18, site, 2);

    /// <summary>The gateway's side of the site's LAN: the host's default route.</summary>
    public static IPAddress SiteGateway(int site) => Address(18, site, 1);

    public static string SiteNetwork(int site) => Invariant($"198.18.{site}.0/24");

    /// <summary>The WAN core's end of the site's link.</summary>
    public static IPAddress CoreEnd(int site) => Address(19, site, 1);

    /// <summary>The gateway's end of the site's link: a NAT's public address.</summary>
    public static IPAddress SiteEnd(int site) => Address(19, site, 2);

    private static IPAddress Address(int second, int site, int last)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(site);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(site, 255);
        return new IPAddress([198, (byte)second, (byte)site, (byte)last]);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
