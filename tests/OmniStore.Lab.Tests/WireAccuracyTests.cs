using OmniStore.Lab.Tests.Infrastructure;

namespace OmniStore.Lab.Tests;

/// <summary>
/// The wire is measured, not assumed: a configured delay gives the round-trip time it should,
/// a configured loss drops that share of 10,000 packets, duplication and reordering hit that share,
/// and a configured rate is the rate the link's IP bytes grow at, each in both directions where it
/// matters.
/// </summary>
public sealed class WireAccuracyTests
{
    private readonly ITestOutputHelper _output;

    public WireAccuracyTests(ITestOutputHelper output) => _output = output;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(0, 25)]
    [InlineData(5, 20)]
    [InlineData(30, 70)]
    public async Task Delay_gives_a_round_trip_time_within_5_percent_at_best_and_15_percent_by_median(int masterDelayMs, int siteDelayMs)
    {
        LabRequirement.Ensure();
        await using var lab = await Lab.StartAsync(TwoSites(
            new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(masterDelayMs) },
            new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(siteDelayMs) }), Token);

        var rtts = await LabSockets.MeasureRttAsync(lab.Sites[0], lab.Master, probes: 40, Token);

        double expected = 2 * (masterDelayMs + siteDelayMs);
        Array.Sort(rtts);
        var median = rtts[rtts.Length / 2];
        // The slowest tenth is left out of the mean: a busy 2-core machine now and then holds a
        // thread for milliseconds, which is the machine, not the configured delay.
        var mean = rtts[..(rtts.Length * 9 / 10)].Average();
        _output.WriteLine($"expected {expected} ms: min {rtts[0]:F3}, median {median:F3}, mean of fastest 90% {mean:F3}, max {rtts[^1]:F3} ms");
        _output.WriteLine($"wire: {string.Join("; ", await lab.WireStatisticsAsync(Token))}");
        // The fastest probe is the configured delay plus the machine's least overhead: within 5%,
        // and never sooner. The median also carries the wire's wake-up lateness per hop (its
        // late_mean_us above), which on a loaded 2-core machine reaches a millisecond on each of the
        // four hops of a round trip: it is held to 15%, which a delay applied once instead of twice,
        // or per link instead of per direction, still fails by far.
        Assert.True(rtts[0] >= expected * 0.99, $"a probe came back in {rtts[0]:F3} ms, sooner than the configured {expected} ms");
        Assert.InRange(rtts[0], expected * 0.99, expected * 1.05);
        Assert.InRange(median, expected * 0.95, expected * 1.15);
        Assert.InRange(mean, expected * 0.95, expected * 1.15);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Loss_drops_the_configured_share_of_10000_packets_within_20_percent(bool upward)
    {
        LabRequirement.Ensure();
        const double loss = 0.05;
        const int count = 10_000;
        await using var lab = await Lab.StartAsync(TwoSites(WanLinkSpec.Unlimited, new WanLinkSpec { Loss = loss }), Token);
        var (from, to) = upward ? (lab.Sites[0], lab.Master) : (lab.Master, lab.Sites[0]);

        var arrived = await LabSockets.SendNumberedAsync(from, to, count, Token);

        var measured = 1 - (arrived.Distinct().Count() / (double)count);
        var stats = string.Join("; ", await lab.WireStatisticsAsync(Token));
        _output.WriteLine($"{(upward ? "up" : "down")}: {arrived.Count} of {count} arrived, loss {measured:P2} (configured {loss:P0}); wire: {stats}");
        Assert.InRange(measured, loss * 0.8, loss * 1.2);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Duplicate_delivers_the_configured_share_of_10000_packets_twice_within_20_percent(bool upward)
    {
        LabRequirement.Ensure();
        const double duplicate = 0.1;
        const int count = 10_000;
        await using var lab = await Lab.StartAsync(TwoSites(WanLinkSpec.Unlimited, new WanLinkSpec { Duplicate = duplicate }), Token);
        var (from, to) = upward ? (lab.Sites[0], lab.Master) : (lab.Master, lab.Sites[0]);

        var arrived = await LabSockets.SendNumberedAsync(from, to, count, Token);

        var copies = arrived.CountBy(n => n).ToDictionary();
        var twice = copies.Count(c => c.Value == 2);
        var measured = twice / (double)count;
        var stats = string.Join("; ", await lab.WireStatisticsAsync(Token));
        _output.WriteLine($"{(upward ? "up" : "down")}: {arrived.Count} datagrams for {count} sent, {twice} twice ({measured:P2}, configured {duplicate:P0}); wire: {stats}");
        Assert.Equal(count, copies.Count);
        Assert.All(copies, c => Assert.InRange(c.Value, 1, 2));
        Assert.InRange(measured, duplicate * 0.8, duplicate * 1.2);
        // A copy follows its original: duplication alone does not reorder.
        Assert.Equal(0, OutOfOrder(arrived));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Reorder_delivers_the_configured_share_of_10000_packets_out_of_order_and_each_exactly_once(bool upward)
    {
        LabRequirement.Ensure();
        const double reorder = 0.1;
        const int count = 10_000;
        // The sender's bursts of 20 packets are a millisecond or so apart, more on a busy machine: held
        // back 5 ms, a chosen packet is overtaken by the next burst at the latest, so the share out
        // of order is the share chosen (the default 1 ms would leave the last of a burst in place now
        // and then, and measure the sender's pacing as much as the wire).
        var link = new WanLinkSpec { Reorder = reorder, ReorderDelay = TimeSpan.FromMilliseconds(5) };
        await using var lab = await Lab.StartAsync(TwoSites(WanLinkSpec.Unlimited, link), Token);
        var (from, to) = upward ? (lab.Sites[0], lab.Master) : (lab.Master, lab.Sites[0]);

        var arrived = await LabSockets.SendNumberedAsync(from, to, count, Token);

        var outOfOrder = OutOfOrder(arrived);
        var measured = outOfOrder / (double)count;
        var stats = string.Join("; ", await lab.WireStatisticsAsync(Token));
        _output.WriteLine($"{(upward ? "up" : "down")}: {arrived.Count} of {count} arrived, {outOfOrder} out of order ({measured:P2}, configured {reorder:P0}); wire: {stats}");
        Assert.Equal(Enumerable.Range(0, count), arrived.Order());
        Assert.InRange(measured, reorder * 0.8, reorder * 1.2);
    }

    [Fact]
    public async Task Without_duplicate_and_reorder_no_packet_arrives_twice_or_out_of_order()
    {
        LabRequirement.Ensure();
        const int count = 10_000;
        // Delay, jitter and loss all on, so every draw but duplication and reordering is made.
        var link = new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(5), Jitter = TimeSpan.FromMilliseconds(4), Loss = 0.05, Duplicate = 0, Reorder = 0 };
        await using var lab = await Lab.StartAsync(TwoSites(WanLinkSpec.Unlimited, link), Token);

        var up = await LabSockets.SendNumberedAsync(lab.Sites[0], lab.Master, count, Token);
        var down = await LabSockets.SendNumberedAsync(lab.Master, lab.Sites[0], count, Token);

        _output.WriteLine($"up: {up.Count} of {count} arrived; down: {down.Count} of {count}; wire: {string.Join("; ", await lab.WireStatisticsAsync(Token))}");
        foreach (var arrived in new[] { up, down })
        {
            Assert.Equal(arrived.Count, arrived.Distinct().Count());
            Assert.Equal(0, OutOfOrder(arrived));
            Assert.InRange(arrived.Count, count * 0.9, count * 0.99);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Rate_limits_the_link_to_within_5_percent(bool upward)
    {
        LabRequirement.Ensure();
        const long download = 40_000_000;
        const long upload = 24_000_000;
        await using var lab = await Lab.StartAsync(
            TwoSites(
                WanLinkSpec.Unlimited,
                new WanLinkSpec { RateBitsPerSecond = download, UploadRateBitsPerSecond = upload, Delay = TimeSpan.FromMilliseconds(5) }),
            Token);
        var site = lab.Sites[0];

        var rate = upward
            ? await LabSockets.MeasureRateAsync(site, lab.Master, c => c.UpBytes, site, Token)
            : await LabSockets.MeasureRateAsync(lab.Master, site, c => c.DownBytes, site, Token);

        double expected = upward ? upload : download;
        _output.WriteLine($"{(upward ? "upload" : "download")}: {rate / 1e6:F2} Mbit/s of IP bytes, configured {expected / 1e6:F2} Mbit/s");
        // What the shaper did (sent, dropped, overlimits, backlog) and how late the wire ran: a rate
        // outside the bounds says here whether the qdisc, the wire or the sender fell short.
        _output.WriteLine(await site.ShowWanQdiscsAsync(Token));
        _output.WriteLine($"wire: {string.Join("; ", await lab.WireStatisticsAsync(Token))}");
        Assert.InRange(rate, expected * 0.95, expected * 1.05);
    }

    [Fact]
    public async Task Jitter_spreads_delays_within_its_bounds_and_never_reorders()
    {
        LabRequirement.Ensure();
        var link = new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(20), Jitter = TimeSpan.FromMilliseconds(8) };
        await using var lab = await Lab.StartAsync(TwoSites(WanLinkSpec.Unlimited, link), Token);

        var rtts = await LabSockets.MeasureRttAsync(lab.Sites[0], lab.Master, probes: 60, Token);
        var arrived = await LabSockets.SendNumberedAsync(lab.Sites[0], lab.Master, 3000, Token);

        _output.WriteLine($"RTT min {rtts.Min():F3}, max {rtts.Max():F3}, stddev {StandardDeviation(rtts):F3} ms");
        // Each direction's delay is 20 ± 8 ms: never below 24 ms round trip, and (but for the machine's own hiccups) not above 56.
        Assert.All(rtts, rtt => Assert.True(rtt >= 24.0 * 0.99, $"a probe came back in {rtt:F3} ms, sooner than 20 - 8 ms each way allows"));
        Assert.True(rtts.Count(rtt => rtt <= 56.0 * 1.05) >= rtts.Length * 9 / 10, $"more than a tenth of the probes took longer than 20 + 8 ms each way: {string.Join(", ", rtts.Order().TakeLast(10).Select(r => r.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))}");
        Assert.True(StandardDeviation(rtts) > 2, "the round-trip times hardly vary: no jitter was applied");
        Assert.Equal(3000, arrived.Count);
        Assert.Equal(Enumerable.Range(0, 3000), arrived);
    }

    private static LabTopology TwoSites(WanLinkSpec master, WanLinkSpec site) => new()
    {
        Master = new SiteSpec("master") { Link = master },
        Sites = [new SiteSpec("site1") { Link = site }],
        Seed = 20261122,
    };

    /// <summary>Packets whose sequence number is below the highest that arrived before them.</summary>
    private static int OutOfOrder(List<int> arrived)
    {
        var highest = -1;
        var count = 0;
        foreach (var number in arrived)
        {
            if (number < highest)
            {
                count++;
            }

            highest = Math.Max(highest, number);
        }

        return count;
    }

    private static double StandardDeviation(double[] values)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length);
    }
}
