using System.Globalization;

namespace OmniStore.Lab;

/// <summary>
/// What a <see cref="Lab"/> builds: a master site (where the root runs), K further sites (each with
/// a relay and workers), and a WAN core that joins their WAN links.
/// </summary>
/// <example>
/// <code>
/// var topology = new LabTopology
/// {
///     Master = new SiteSpec("master") { Link = new WanLinkSpec { RateBitsPerSecond = 1_000_000_000 } },
///     Sites =
///     [
///         new SiteSpec("site-a") { Link = new WanLinkSpec { RateBitsPerSecond = 100_000_000, Delay = TimeSpan.FromMilliseconds(20) } },
///         new SiteSpec("site-b") { Link = new WanLinkSpec { RateBitsPerSecond = 50_000_000, Delay = TimeSpan.FromMilliseconds(40), Loss = 0.001 }, Nat = NatKind.Cone },
///     ],
/// };
/// </code>
/// </example>
public sealed record LabTopology
{
    /// <summary>Most sites besides the master: each site numbers one /24 of 198.18.0.0/16.</summary>
    public const int MaxSites = 250;

    /// <summary>The master's site (index 0). Defaults to a site named "master" with an unlimited link.</summary>
    public SiteSpec Master { get; init; } = new("master");

    /// <summary>The other sites (indexes 1..K), in order. Defaults to none.</summary>
    public IReadOnlyList<SiteSpec> Sites { get; init; } = [];

    /// <summary>Seed of the wire's loss, duplication, reordering and jitter draws, so a run can be repeated packet for packet. Defaults to null: a random seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>The master first, then the sites: a site's position here is its index in the address plan.</summary>
    public IEnumerable<SiteSpec> AllSites => Sites.Prepend(Master);

    /// <summary>A master and <paramref name="siteCount"/> sites named site1, site2, ..., all with the same link and NAT.</summary>
    /// <param name="siteCount">Sites besides the master.</param>
    /// <param name="link">Every site's link; the master's too.</param>
    /// <param name="nat">The NAT in front of every site except the master.</param>
    public static LabTopology Uniform(int siteCount, WanLinkSpec link, NatKind nat = NatKind.None)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(siteCount);
        ArgumentNullException.ThrowIfNull(link);
        return new LabTopology
        {
            Master = new SiteSpec("master") { Link = link },
            Sites = Enumerable.Range(1, siteCount)
                .Select(i => new SiteSpec(string.Create(CultureInfo.InvariantCulture, $"site{i}")) { Link = link, Nat = nat })
                .ToArray(),
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first thing wrong with the description.</summary>
    public void Validate(string argumentName = "topology")
    {
        if (Master is null || Sites is null)
        {
            throw new ArgumentException($"{argumentName}: {nameof(Master)} and {nameof(Sites)} must not be null.", argumentName);
        }

        if (Sites.Count > MaxSites)
        {
            throw new ArgumentException($"{argumentName}.{nameof(Sites)} has {Sites.Count} sites; at most {MaxSites}.", argumentName);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var site in AllSites)
        {
            var where = index == 0 ? $"{argumentName}.{nameof(Master)}" : $"{argumentName}.{nameof(Sites)}[{index - 1}]";
            index++;
            if (site is null)
            {
                throw new ArgumentException($"{where} is null.", argumentName);
            }

            if (!IsValidName(site.Name))
            {
                throw new ArgumentException($"{where}.{nameof(SiteSpec.Name)} '{site.Name}' must be 1..16 of a-z, 0-9 and '-', starting with a letter.", argumentName);
            }

            if (!names.Add(site.Name))
            {
                throw new ArgumentException($"{where}: the site name '{site.Name}' is used twice.", argumentName);
            }

            if (!Enum.IsDefined(site.Nat))
            {
                throw new ArgumentException($"{where}.{nameof(SiteSpec.Nat)} is not a {nameof(NatKind)}.", argumentName);
            }

            if (site.Link is null)
            {
                throw new ArgumentException($"{where}.{nameof(SiteSpec.Link)} is null.", argumentName);
            }

            site.Link.Validate($"{where}.{nameof(SiteSpec.Link)}");
        }
    }

    private static bool IsValidName(string? name) =>
        name is { Length: >= 1 and <= 16 } && char.IsAsciiLetterLower(name[0]) &&
        name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');
}
