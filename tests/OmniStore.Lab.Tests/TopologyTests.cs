using System.Net;

namespace OmniStore.Lab.Tests;

/// <summary>Descriptions are checked before anything is built; addresses come from 198.18.0.0/15 only. No root needed.</summary>
public sealed class TopologyTests
{
    [Fact]
    public void Uniform_names_sites_in_order_after_the_master()
    {
        var link = new WanLinkSpec { RateBitsPerSecond = 10_000_000 };
        var topology = LabTopology.Uniform(3, link, NatKind.Cone);

        Assert.Equal(["master", "site1", "site2", "site3"], topology.AllSites.Select(s => s.Name));
        Assert.Equal(NatKind.None, topology.Master.Nat);
        Assert.All(topology.Sites, s => Assert.Equal(NatKind.Cone, s.Nat));
        Assert.All(topology.AllSites, s => Assert.Same(link, s.Link));
        topology.Validate();
    }

    public static TheoryData<LabTopology, string> Invalid => new()
    {
        { new LabTopology { Sites = [new SiteSpec("a"), new SiteSpec("a")] }, "used twice" },
        { new LabTopology { Sites = [new SiteSpec("master")] }, "used twice" },
        { new LabTopology { Sites = [new SiteSpec("Site")] }, "Sites[0].Name" },
        { new LabTopology { Sites = [new SiteSpec("a.b")] }, "Sites[0].Name" },
        { new LabTopology { Sites = [new SiteSpec("1a")] }, "Sites[0].Name" },
        { new LabTopology { Sites = [new SiteSpec("a-very-long-site-name")] }, "Sites[0].Name" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { Loss = 1.5 } }] }, "Sites[0].Link.Loss" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { Loss = double.NaN } }] }, "Sites[0].Link.Loss" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { Duplicate = -0.1 } }] }, "Sites[0].Link.Duplicate" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { Duplicate = double.NaN } }] }, "Sites[0].Link.Duplicate" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { Reorder = 1.01 } }] }, "Sites[0].Link.Reorder" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { Reorder = double.NaN } }] }, "Sites[0].Link.Reorder" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { Reorder = 0.1, ReorderDelay = TimeSpan.Zero } }] }, "Sites[0].Link.ReorderDelay" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { ReorderDelay = TimeSpan.FromSeconds(11) } }] }, "Sites[0].Link.ReorderDelay" },
        { new LabTopology { Master = new SiteSpec("m") { Link = new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(-1) } } }, "Master.Link.Delay" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { RateBitsPerSecond = 0 } }] }, "Sites[0].Link.RateBitsPerSecond" },
        { new LabTopology { Sites = [new SiteSpec("a") { Link = new WanLinkSpec { QueueBytes = 100 } }] }, "Sites[0].Link.QueueBytes" },
        { new LabTopology { Sites = [new SiteSpec("a") { Nat = (NatKind)7 }] }, "Sites[0].Nat" },
        { LabTopology.Uniform(LabTopology.MaxSites + 1, WanLinkSpec.Unlimited), "at most" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Validate_names_what_is_wrong(LabTopology topology, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => topology.Validate());
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_rejects_an_invalid_topology_before_building_anything()
    {
        await Assert.ThrowsAsync<ArgumentException>(
            () => Lab.StartAsync(new LabTopology { Sites = [new SiteSpec("a"), new SiteSpec("a")] }, TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(250)]
    public void Every_address_of_the_plan_is_in_198_18_0_0_over_15(int site)
    {
        IPAddress[] addresses =
        [
            Internal.AddressPlan.SiteHost(site), Internal.AddressPlan.SiteGateway(site),
            Internal.AddressPlan.CoreEnd(site), Internal.AddressPlan.SiteEnd(site),
        ];
        var network = IPNetwork.Parse("198.18.0.0/15");
        Assert.All(addresses, a => Assert.True(network.Contains(a), $"{a} is outside 198.18.0.0/15"));
        Assert.Equal(4, addresses.Distinct().Count());
        Assert.True(network.Contains(IPNetwork.Parse(Internal.AddressPlan.SiteNetwork(site)).BaseAddress));
    }

    [Fact]
    public void A_symmetric_NAT_randomizes_ports_and_a_cone_NAT_does_not()
    {
        Assert.Contains("masquerade fully-random", Lab.NatRules(NatKind.Symmetric), StringComparison.Ordinal);
        Assert.DoesNotContain("fully-random", Lab.NatRules(NatKind.Cone), StringComparison.Ordinal);
        Assert.Contains("masquerade", Lab.NatRules(NatKind.Cone), StringComparison.Ordinal);
    }

    [Fact]
    public void Counters_subtract_per_field()
    {
        var earlier = new WanLinkCounters(new InterfaceCounters(10, 1, 0, 20, 2, 0), new InterfaceCounters(20, 2, 0, 10, 1, 0));
        var later = new WanLinkCounters(new InterfaceCounters(110, 3, 1, 520, 7, 2), new InterfaceCounters(515, 6, 0, 112, 3, 0));

        var delta = later - earlier;

        Assert.Equal(100, delta.DownBytes);
        Assert.Equal(495, delta.UpBytes);
        Assert.Equal(595, delta.TotalBytes);
        Assert.Equal(2, delta.SiteEnd.TxDropped);
    }
}
