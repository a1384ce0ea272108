using System.Globalization;
using OmniStore.Lab.Internal;

namespace OmniStore.Lab;

public sealed partial class Lab
{
    private const int Mtu = 1500;

    /// <summary>Long enough for the wire to keep up with short bursts at a gigabit; the TUN default (500) drops sooner.</summary>
    private const int TunQueuePackets = 1000;

    private async Task BuildAsync(CancellationToken cancellationToken)
    {
        RunMarker.Write(Prefix);

        await AddNamespaceAsync(CoreNamespace, forwards: true, cancellationToken).ConfigureAwait(false);
        foreach (var site in AllSites)
        {
            await AddNamespaceAsync(site.Namespace, forwards: false, cancellationToken).ConfigureAwait(false);
            await AddNamespaceAsync(site.GatewayNamespace, forwards: true, cancellationToken).ConfigureAwait(false);
        }

        var wire = await WireProcess.StartAsync(
            Prefix,
            [.. AllSites.Select(s => (s.GatewayNamespace, LabNames.WanDevice, CoreNamespace, s.CoreDevice))],
            cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            _wire = wire;
        }

        foreach (var site in AllSites)
        {
            await ConnectSiteAsync(site, cancellationToken).ConfigureAwait(false);
            await ApplyLinkAsync(site, site.Spec.Link, cancellationToken).ConfigureAwait(false);
        }

        foreach (var site in AllSites.Where(s => s.Spec.Nat == NatKind.Upnp))
        {
            await StartMiniUpnpdAsync(site, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A <see cref="NatKind.Upnp"/> gateway's miniupnpd: the STUN responder it checks its WAN with
    /// (at the core's end of the site's link), then miniupnpd itself, its files in a run directory.
    /// </summary>
    private async Task StartMiniUpnpdAsync(LabSite site, CancellationToken cancellationToken)
    {
        var stunServer = AddressPlan.CoreEnd(site.Index);
        Track(LabStunResponder.Start(CoreNamespace, stunServer));
        var directory = CreateRunDirectory($"{site.Name}.miniupnpd");
        await File.WriteAllTextAsync(Path.Combine(directory, "miniupnpd.conf"), MiniUpnpd.Configuration(directory, site.Index, stunServer), cancellationToken).ConfigureAwait(false);
        await MiniUpnpd.StartAsync(site.GatewayNamespace, directory, process => Track(process, site.GatewayNamespace), cancellationToken).ConfigureAwait(false);
    }

    private async Task AddNamespaceAsync(string name, bool forwards, CancellationToken cancellationToken)
    {
        // Recorded first: a cancelled or failed "ip netns add" may still have made it, and teardown skips names that do not exist.
        lock (_lock)
        {
            _namespaces.Add(name);
        }

        await CommandRunner.IpAsync(cancellationToken, "netns", "add", name).ConfigureAwait(false);

        await CommandRunner.IpAsync(cancellationToken, "-n", name, "link", "set", "lo", "up").ConfigureAwait(false);
        // No IPv6: its neighbour and router discovery would add chatter to the WAN byte counters.
        List<string> settings = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];
        if (forwards)
        {
            settings.Add("net.ipv4.ip_forward=1");
        }

        await CommandRunner.InNamespaceAsync(name, "sysctl", ["-q", "-w", .. settings], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A site's LAN (host and gateway on a veth), its link's addresses and the routes; a NAT on the
    /// gateway if the site has one. See <see cref="AddressPlan"/>.
    /// </summary>
    private async Task ConnectSiteAsync(LabSite site, CancellationToken cancellationToken)
    {
        var i = site.Index;
        var (wan, lan) = (LabNames.WanDevice, LabNames.LanDevice);
        var (host, gateway) = (site.Namespace, site.GatewayNamespace);
        var siteEnd = AddressPlan.SiteEnd(i).ToString();
        var coreEnd = AddressPlan.CoreEnd(i).ToString();
        var mtu = Mtu.ToString(CultureInfo.InvariantCulture);
        var queue = TunQueuePackets.ToString(CultureInfo.InvariantCulture);

        await Ip("-n", gateway, "addr", "add", siteEnd, "peer", coreEnd, "dev", wan).ConfigureAwait(false);
        await Ip("-n", gateway, "link", "set", wan, "mtu", mtu, "txqueuelen", queue, "up").ConfigureAwait(false);
        await Ip("-n", CoreNamespace, "addr", "add", coreEnd, "peer", siteEnd, "dev", site.CoreDevice).ConfigureAwait(false);
        await Ip("-n", CoreNamespace, "link", "set", site.CoreDevice, "mtu", mtu, "txqueuelen", queue, "up").ConfigureAwait(false);

        await Ip("link", "add", lan, "netns", gateway, "type", "veth", "peer", "name", lan, "netns", host).ConfigureAwait(false);
        await Ip("-n", gateway, "addr", "add", $"{AddressPlan.SiteGateway(i)}/24", "dev", lan).ConfigureAwait(false);
        await Ip("-n", gateway, "link", "set", lan, "mtu", mtu, "up").ConfigureAwait(false);
        await Ip("-n", host, "addr", "add", $"{site.Address}/24", "dev", lan).ConfigureAwait(false);
        await Ip("-n", host, "link", "set", lan, "mtu", mtu, "up").ConfigureAwait(false);
        await Ip("-n", host, "route", "add", "default", "via", AddressPlan.SiteGateway(i).ToString()).ConfigureAwait(false);
        await Ip("-n", gateway, "route", "add", "default", "dev", wan).ConfigureAwait(false);

        if (site.Spec.Nat == NatKind.None)
        {
            await Ip("-n", CoreNamespace, "route", "add", AddressPlan.SiteNetwork(i), "dev", site.CoreDevice).ConfigureAwait(false);
        }
        else
        {
            // The core has no route to a NATed site's /24: only the gateway's public address is reachable.
            var rules = NatRules(site.Spec.Nat) + (site.Spec.Nat == NatKind.Upnp ? MiniUpnpd.Rules() : "");
            await CommandRunner.RunCheckedAsync("ip", ["netns", "exec", gateway, "nft", "-f", "-"], rules, cancellationToken).ConfigureAwait(false);
        }

        Task<string> Ip(params string[] arguments) => CommandRunner.IpAsync(cancellationToken, arguments);
    }

    /// <summary>
    /// A NAT gateway's rules: masquerade out of the WAN device (with random ports per connection for
    /// a symmetric NAT), and a forward filter that lets in only what belongs to connections the site
    /// opened, as a home or enterprise NAT does. Unsolicited packets to the gateway's public address
    /// are dropped, not refused, so a connection attempt from outside times out. Behind
    /// <see cref="NatKind.Upnp"/> the forward filter also accepts what a port forwarding (miniupnpd's
    /// DNAT) lets in.
    /// </summary>
    internal static string NatRules(NatKind kind) =>
        $$"""
        table ip omnistore_lab {
            chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                oifname "{{LabNames.WanDevice}}" masquerade{{(kind == NatKind.Symmetric ? " fully-random" : "")}}
            }
            chain forward {
                type filter hook forward priority filter; policy drop;
                ct state established,related accept{{(kind == NatKind.Upnp ? "\n        ct status dnat accept" : "")}}
                iifname "{{LabNames.LanDevice}}" oifname "{{LabNames.WanDevice}}" accept
            }
            chain input {
                type filter hook input priority filter; policy accept;
                iifname "{{LabNames.WanDevice}}" ct state new drop
            }
        }

        """;

    /// <summary>Rate limits on both ends of the link (each limits what its end sends), then the wire's conditions for both directions.</summary>
    private async Task ApplyLinkAsync(LabSite site, WanLinkSpec link, CancellationToken cancellationToken)
    {
        await SetRateAsync(site.GatewayNamespace, LabNames.WanDevice, link.UploadRate, link.QueueBytes, cancellationToken).ConfigureAwait(false);
        await SetRateAsync(CoreNamespace, site.CoreDevice, link.DownloadRate, link.QueueBytes, cancellationToken).ConfigureAwait(false);
        var wire = _wire ?? throw new ObjectDisposedException(nameof(Lab));
        await wire.SetAsync(site.Index, up: true, link, Seed(site.Index, up: true), cancellationToken).ConfigureAwait(false);
        await wire.SetAsync(site.Index, up: false, link, Seed(site.Index, up: false), cancellationToken).ConfigureAwait(false);
    }

    private ulong Seed(int site, bool up) => _seed ^ (((ulong)site << 1) | (up ? 1UL : 0UL)) * 0x9E3779B97F4A7C15UL;

    /// <summary>
    /// tc tbf at the given rate, or no qdisc at all when unlimited. Burst is 2 ms at the rate, at least
    /// four packets: with less, tokens overflow whenever the qdisc's timer fires late and the link runs
    /// a few percent below its rate (measured here: 97% with two packets, 100% with four); more would
    /// let line-rate bursts through.
    /// </summary>
    private static async Task SetRateAsync(string ns, string device, long? bitsPerSecond, int? queueBytes, CancellationToken cancellationToken)
    {
        if (bitsPerSecond is not { } rate)
        {
            var shown = await CommandRunner.RunCheckedAsync("tc", ["-n", ns, "qdisc", "show", "dev", device, "root"], cancellationToken: cancellationToken).ConfigureAwait(false);
            if (shown.Contains("tbf", StringComparison.Ordinal))
            {
                await CommandRunner.RunCheckedAsync("tc", ["-n", ns, "qdisc", "del", "dev", device, "root"], cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        var bytesPerSecond = rate / 8;
        var burst = Math.Max(4 * Mtu, bytesPerSecond / 500);
        var limit = queueBytes ?? Math.Max(64 * 1024, bytesPerSecond / 10);
        await CommandRunner.RunCheckedAsync(
            "tc",
            ["-n", ns, "qdisc", "replace", "dev", device, "root", "tbf",
                "rate", Invariant($"{rate}bit"), "burst", Invariant($"{burst}"), "limit", Invariant($"{limit}")],
            cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
