using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace OmniStore.Lab.Internal;

/// <summary>
/// Names of a run's resources. Every one starts with the run's prefix, <c>omnilab-</c> and six hex
/// digits, so a run's resources are told apart from anything else on the host and from other runs.
/// </summary>
internal static partial class LabNames
{
    public const string Root = "omnilab-";

    /// <summary>The device at the gateway's end of a site's WAN link.</summary>
    public const string WanDevice = "wan";

    /// <summary>The veth between a site's gateway and its hosts, in both namespaces.</summary>
    public const string LanDevice = "lan";

    /// <summary>Where each live run leaves a file naming its owning process, so clean-up can tell live runs from crashed ones.</summary>
    public const string MarkerDirectory = "/run/omnistore-lab";

    public static string NewPrefix() => Root + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

    public static string Core(string prefix) => $"{prefix}.core";

    public static string SiteHost(string prefix, string site) => $"{prefix}.{site}";

    public static string SiteGateway(string prefix, string site) => $"{prefix}.{site}.gw";

    /// <summary>The core's end of site <paramref name="index"/>'s link.</summary>
    public static string CoreDevice(int index) => $"wan{index}";

    /// <summary>The run prefix of a lab namespace, marker or wire tag, or null for anything else.</summary>
    public static string? PrefixOf(string name)
    {
        var match = PrefixPattern().Match(name);
        return match.Success ? match.Groups[1].Value : null;
    }

    [GeneratedRegex("^(omnilab-[0-9a-f]{6})(\\..*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex PrefixPattern();
}
