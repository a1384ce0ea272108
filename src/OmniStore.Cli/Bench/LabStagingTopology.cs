using System.Globalization;
using OmniStore.Lab;
using LabNetwork = OmniStore.Lab.Lab;

namespace OmniStore.Cli.Bench;

/// <summary>
/// The staging benchmark's sites as a lab (docs/lab.md): a network namespace per site behind its own
/// WAN link, every link with the same rate, delay, jitter and loss, and the links' byte counters
/// read from the kernel.
/// </summary>
internal sealed class LabStagingTopology : IStagingTopology
{
    private readonly LabNetwork _lab;
    private readonly long _rate;
    private readonly bool _behindNat;

    private LabStagingTopology(LabNetwork lab, StagingSettings settings)
    {
        _lab = lab;
        _rate = settings.RateBitsPerSecond;
        _behindNat = settings.BehindNat;
        var c = CultureInfo.InvariantCulture;
        Description = string.Create(c, $"lab: {settings.Sites} sites and the master's, each behind a WAN link of {LinkUnits.FormatRate(settings.RateBitsPerSecond)}, {settings.RoundTrip.TotalMilliseconds:0.#} ms round trip between sites")
            + (settings.Jitter > TimeSpan.Zero ? string.Create(c, $", jitter {settings.Jitter.TotalMilliseconds:0.#} ms per link") : string.Empty)
            + (settings.Loss > 0 ? string.Create(c, $", loss {settings.Loss:P2} per link and direction") : string.Empty)
            + (settings.Duplicate > 0 ? string.Create(c, $", {settings.Duplicate:P2} duplicated") : string.Empty)
            + (settings.Reorder > 0 ? string.Create(c, $", {settings.Reorder:P2} reordered") : string.Empty)
            + (settings.BehindNat ? "; every site and the master's behind a cone NAT, the root reached by name through a rendezvous in a public site" : string.Empty);
    }

    public string Description { get; }

    public bool ShapesWan => true;

    public int SiteCount => _lab.Sites.Count - (_behindNat ? 1 : 0);

    public int? RendezvousSite => _behindNat ? _lab.Sites.Count - 1 : null;

    public static async Task<IStagingTopology> CreateAsync(StagingSettings settings, CancellationToken cancellationToken)
    {
        if (!LabNetwork.IsSupported(out string reason))
        {
            throw new UsageException($"The staging benchmark cannot build its lab here: {reason}. Add --loopback for a run on 127.0.0.1 that does not shape the WAN.");
        }

        // The round trip between two sites crosses both sites' links twice.
        var link = new WanLinkSpec
        {
            RateBitsPerSecond = settings.RateBitsPerSecond,
            Delay = settings.RoundTrip / 4,
            Jitter = settings.Jitter,
            Loss = settings.Loss,
            Duplicate = settings.Duplicate,
            Reorder = settings.Reorder,
        };
        var topology = LabTopology.Uniform(settings.Sites, link, settings.BehindNat ? NatKind.Cone : NatKind.None);
        if (settings.BehindNat)
        {
            // The master's site behind NAT too, and one public site more, with no workers, for the rendezvous.
            topology = topology with
            {
                Master = topology.Master with { Nat = NatKind.Cone },
                Sites = [.. topology.Sites, new SiteSpec("rendezvous") { Link = link }],
            };
        }

        var lab = await LabNetwork.StartAsync(topology, cancellationToken);
        return new LabStagingTopology(lab, settings);
    }

    public string HostOf(int site) => SiteAt(site).Address.ToString();

    public long? RateOf(int site) => _rate;

    public StagedProcess Start(int site, string label, IReadOnlyList<string> arguments)
    {
        var (fileName, prefix) = OmniStoreExecutable.Resolve();
        return new StagedProcess(label, "ip", ["netns", "exec", SiteAt(site).Namespace, fileName, .. prefix, .. arguments]);
    }

    public async Task<IReadOnlyList<LinkBytes>?> ReadWanCountersAsync(CancellationToken cancellationToken)
    {
        var counters = await Task.WhenAll(_lab.AllSites.Take(1 + SiteCount).Select(site => site.ReadWanCountersAsync(cancellationToken)));
        return counters.Select(c => new LinkBytes(c.UpBytes, c.DownBytes, c.CoreEnd.RxPackets, c.SiteEnd.RxPackets)).ToArray();
    }

    public ValueTask DisposeAsync() => _lab.DisposeAsync();

    private LabSite SiteAt(int site) => site < 0 ? _lab.Master : _lab.Sites[site];
}
