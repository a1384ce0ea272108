using System.Net;
using OmniStore.Lab.Tests.Infrastructure;

namespace OmniStore.Lab.Tests;

/// <summary>A lab comes up as described and goes away completely: on dispose, on SIGINT or SIGTERM, and through clean-up after a crash.</summary>
public sealed class LabLifecycleTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dispose_removes_namespaces_links_marker_wire_and_every_process_inside()
    {
        LabRequirement.Ensure();
        var hostLinks = LabResources.HostLinks();
        var lab = await Lab.StartAsync(
            new LabTopology { Sites = [new SiteSpec("a"), new SiteSpec("b") { Nat = NatKind.Cone }] },
            Token);
        var prefix = lab.Prefix;
        int wirePid;
        int[] inside;
        try
        {
            Assert.Equal(
                [$"{prefix}.a", $"{prefix}.a.gw", $"{prefix}.b", $"{prefix}.b.gw", $"{prefix}.core", $"{prefix}.master", $"{prefix}.master.gw"],
                LabResources.Namespaces(prefix).Order(StringComparer.Ordinal));
            Assert.True(LabResources.MarkerExists(prefix));
            wirePid = lab.WireProcessId ?? throw new InvalidOperationException("no wire");
            Assert.True(LabResources.IsAlive(wirePid));
            Assert.Equal(hostLinks, LabResources.HostLinks()); // nothing of the lab in the host's namespace

            // One process the lab started, and one that escaped it (its parent exited at once).
            await using var tracked = lab.Sites[0].StartProcess("sleep", "300");
            var escaped = await lab.Sites[1].RunAsync("sh", ["-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 &"], cancellationToken: Token);
            Assert.Equal(0, escaped.ExitCode);
            inside = [.. await LabResources.PidsInAsync($"{prefix}.a"), .. await LabResources.PidsInAsync($"{prefix}.b")];
            Assert.Equal(2, inside.Length);
        }
        finally
        {
            await lab.DisposeAsync();
        }

        Assert.Empty(LabResources.Namespaces(prefix));
        Assert.False(LabResources.MarkerExists(prefix));
        Assert.False(LabResources.IsAlive(wirePid), "the wire still runs");
        Assert.All(inside, pid => Assert.False(LabResources.IsAlive(pid), $"process {pid} started in the lab still runs"));
        Assert.Empty(LabResources.ProcessesMentioning(prefix));
        Assert.Equal(hostLinks, LabResources.HostLinks());
    }

    [Fact]
    public async Task Cancelling_StartAsync_midway_removes_what_it_had_built()
    {
        LabRequirement.Ensure();
        var existing = LabCleanup.ListNamespaces();
        var markers = Markers();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Token);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(700));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Lab.StartAsync(LabTopology.Uniform(20, new WanLinkSpec { RateBitsPerSecond = 10_000_000 }, NatKind.Cone), cancel.Token));

        var namespacesLeft = LabCleanup.ListNamespaces().Except(existing).ToArray();
        var markersLeft = Markers().Except(markers).ToArray();
        Assert.True(namespacesLeft.Length == 0, $"namespaces left behind: {string.Join(", ", namespacesLeft)}");
        Assert.True(markersLeft.Length == 0, $"markers left behind: {string.Join(", ", markersLeft)}");

        static string[] Markers() => Directory.Exists("/run/omnistore-lab") ? [.. Directory.EnumerateFiles("/run/omnistore-lab")] : [];
    }

    [Fact]
    public async Task Every_site_reaches_the_master_and_the_master_reaches_sites_without_NAT()
    {
        LabRequirement.Ensure();
        await using var lab = await Lab.StartAsync(
            LabTopology.Uniform(3, new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(1) }) with
            {
                Sites = [new SiteSpec("x"), new SiteSpec("y"), new SiteSpec("z") { Nat = NatKind.Symmetric }],
            },
            Token);
        using var master = LabSockets.Listen(lab.Master, lab.Master.Address);
        var masterEndpoint = new IPEndPoint(lab.Master.Address, LabSockets.Port(master));

        foreach (var site in lab.Sites)
        {
            Assert.True(await LabSockets.CanConnectAsync(site, masterEndpoint, LabSockets.Timeout, Token), $"{site} cannot reach the master");
        }

        using var x = LabSockets.Listen(lab["x"], lab["x"].Address);
        Assert.True(await LabSockets.CanConnectAsync(lab.Master, new IPEndPoint(lab["x"].Address, LabSockets.Port(x)), LabSockets.Timeout, Token));
        Assert.True(await LabSockets.CanConnectAsync(lab["y"], new IPEndPoint(lab["x"].Address, LabSockets.Port(x)), LabSockets.Timeout, Token), "site y cannot reach site x");
    }

    [Fact]
    public async Task Wan_counters_count_the_bytes_that_crossed_each_link()
    {
        LabRequirement.Ensure();
        await using var lab = await Lab.StartAsync(LabTopology.Uniform(2, WanLinkSpec.Unlimited), Token);
        var before = await Task.WhenAll(lab.AllSites.Select(s => s.ReadWanCountersAsync(Token)));

        // 1,000 datagrams of 200 bytes (228 IP bytes each) from site1 to the master; site2 stays quiet.
        var arrived = await LabSockets.SendNumberedAsync(lab.Sites[0], lab.Master, 1000, Token);

        var after = await Task.WhenAll(lab.AllSites.Select(s => s.ReadWanCountersAsync(Token)));
        var master = after[0] - before[0];
        var site1 = after[1] - before[1];
        var site2 = after[2] - before[2];
        Assert.Equal(1000, arrived.Count);
        Assert.Equal(228_000, site1.UpBytes);
        Assert.Equal(228_000, site1.SiteEnd.TxBytes);
        Assert.Equal(228_000, master.DownBytes);
        Assert.Equal(0, site1.DownBytes);
        Assert.Equal(0, site2.TotalBytes);
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task A_signal_removes_the_lab_of_the_process_that_gets_it(string signal)
    {
        LabRequirement.Ensure();
        await using var up = await LabCommand.UpAsync(Token, "--sites", "2", "--nat", "cone", "--delay", "5ms");
        Assert.NotEmpty(LabResources.Namespaces(up.Prefix));
        var inside = await LabResources.PidsInAsync($"{up.Prefix}.site1");

        Assert.Equal(0, Kill(up.Pid, signal == "TERM" ? 15 : 2));
        await up.Process.WaitForExitAsync(Token).WaitAsync(TimeSpan.FromSeconds(30), Token);

        Assert.Empty(LabResources.Namespaces(up.Prefix));
        Assert.False(LabResources.MarkerExists(up.Prefix));
        Assert.False(LabResources.IsAlive(up.WirePid), "the wire still runs");
        Assert.Empty(inside);
        Assert.Empty(LabResources.ProcessesMentioning(up.Prefix));
    }

    [Fact]
    public async Task After_a_crash_the_wire_exits_by_itself_and_clean_up_removes_the_rest_but_not_live_labs()
    {
        LabRequirement.Ensure();
        await using var live = await Lab.StartAsync(LabTopology.Uniform(1, WanLinkSpec.Unlimited), Token);
        await using var up = await LabCommand.UpAsync(Token, "--sites", "1", "--nat", "symmetric");
        await using var left = live.Sites[0].StartProcess("sleep", "300");

        Assert.Equal(0, Kill(up.Pid, 9));
        await up.Process.WaitForExitAsync(Token).WaitAsync(TimeSpan.FromSeconds(30), Token);
        for (var i = 0; i < 100 && LabResources.IsAlive(up.WirePid); i++)
        {
            await Task.Delay(100, Token);
        }

        Assert.False(LabResources.IsAlive(up.WirePid), "the wire outlived the process that started it");
        Assert.NotEmpty(LabResources.Namespaces(up.Prefix));
        Assert.True(LabResources.MarkerExists(up.Prefix));

        var report = await LabCleanup.RemoveLeftoversAsync(cancellationToken: Token);

        Assert.Contains(up.Prefix, report.RemovedRuns);
        Assert.Empty(LabResources.Namespaces(up.Prefix));
        Assert.False(LabResources.MarkerExists(up.Prefix));
        Assert.Contains(live.Prefix, report.LiveRuns);
        Assert.DoesNotContain(live.Prefix, report.RemovedRuns);
        Assert.Equal(5, LabResources.Namespaces(live.Prefix).Length); // core, master, site1 and their gateways are still there
        Assert.False(left.HasExited);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}
