using OmniStore.Lab.Tests.Infrastructure;

namespace OmniStore.Lab.Tests;

/// <summary>A <see cref="NatKind.Upnp"/> site's gateway runs miniupnpd with its own nftables table, and teardown removes the process, its files and the table.</summary>
public sealed class UpnpGatewayTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_gateway_runs_miniupnpd_until_the_lab_goes_and_leaves_nothing_behind()
    {
        LabRequirement.Ensure();
        LabRequirement.EnsureProgram("/usr/sbin/miniupnpd", "miniupnpd");
        LabRequirement.EnsureProgram("/usr/bin/natpmpc", "natpmpc");
        var lab = await Lab.StartAsync(new LabTopology { Sites = [new SiteSpec("home") { Nat = NatKind.Upnp }] }, Token);
        var site = lab["home"];
        var directory = Path.Combine(Path.GetTempPath(), $"{lab.Prefix}.home.miniupnpd");
        int[] gatewayPids;
        try
        {
            gatewayPids = [.. await LabResources.PidsInAsync(site.GatewayNamespace)];
            Assert.Contains(gatewayPids, pid => File.ReadAllText($"/proc/{pid}/comm").Trim() == "miniupnpd");
            Assert.True(File.Exists(Path.Combine(directory, "miniupnpd.conf")));
            var rules = await site.RunAsync("ip", ["netns", "exec", site.GatewayNamespace, "nft", "list", "table", "inet", "omnistore_upnp"], cancellationToken: Token);
            Assert.Equal(0, rules.ExitCode);
            Assert.Contains("ct status dnat accept", (await site.RunAsync("ip", ["netns", "exec", site.GatewayNamespace, "nft", "list", "table", "ip", "omnistore_lab"], cancellationToken: Token)).StandardOutput, StringComparison.Ordinal);

            // It answers NAT-PMP on the site's LAN with the gateway's public address (its STUN check passed).
            var natpmpc = await site.RunAsync("natpmpc", ["-g", site.GatewayAddress.ToString()], TimeSpan.FromSeconds(20), Token);
            Assert.Contains($"Public IP address : {site.PublicAddress}", natpmpc.StandardOutput, StringComparison.Ordinal);
        }
        finally
        {
            await lab.DisposeAsync();
        }

        Assert.All(gatewayPids, pid => Assert.False(LabResources.IsAlive(pid), $"process {pid} of the gateway survived the lab"));
        Assert.False(Directory.Exists(directory), $"{directory} survived the lab");
        Assert.Empty(LabResources.Namespaces(lab.Prefix));
    }

    [Fact]
    public void Only_the_upnp_kind_lets_forwarded_ports_through()
    {
        Assert.Contains("ct status dnat accept", Lab.NatRules(NatKind.Upnp), StringComparison.Ordinal);
        Assert.DoesNotContain("ct status dnat", Lab.NatRules(NatKind.Cone), StringComparison.Ordinal);
        Assert.DoesNotContain("fully-random", Lab.NatRules(NatKind.Upnp), StringComparison.Ordinal);
    }
}
