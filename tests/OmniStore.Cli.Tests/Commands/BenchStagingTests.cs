using System.Text.Json;
using System.Xml.Linq;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore bench staging</c> end to end: the loopback variant anywhere, and the CI smoke of the
/// lab variant (root only; under CI=true it must run). Byte counts are the assertions: relay mode
/// moves the object once per site, direct mode once per worker.
/// </summary>
public sealed class BenchStagingTests : IDisposable
{
    private const long Size = 8L << 20;
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);
    private readonly TempDirectory _dir = new("omnistore-bench");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Loopback_RunsEveryMode_VerifiesEveryWorker_AndSaysItDoesNotShapeTheWan()
    {
        var result = await CliRunner.RunAsync(
            ["bench", "staging", "--loopback", "--size", "4M", "--sites", "2", "--workers", "1,3", "--results", _dir.Sub("results")],
            _dir.Sub("data"), timeout: RunTimeout);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("NOT shaped", result.Output, StringComparison.Ordinal);
        var runs = ReadResults(out string markdown, out var svg);
        Assert.Contains("NOT shaped", markdown, StringComparison.Ordinal);
        Assert.Equal(6, runs.GetArrayLength());
        long size = 4L << 20;
        foreach (var run in runs.EnumerateArray())
        {
            Assert.Equal(0, run.GetProperty("failedWorkers").GetInt32());
            int workers = run.GetProperty("workers").GetInt32();
            long rootOut = run.GetProperty("rootBytesOut").GetInt64();
            switch (run.GetProperty("mode").GetString())
            {
                case "direct":
                    AssertAbout(workers * size, rootOut, "direct: the root sends every worker's copy");
                    break;
                case "relay":
                    int sitesWithWorkers = Math.Min(workers, 2);
                    AssertAbout(sitesWithWorkers * size, rootOut, "relay: the root sends one copy per site with workers");
                    break;
                default:
                    AssertAbout(2 * size, rootOut, "broadcast: the root pushes one copy to every relay");
                    Assert.All(run.GetProperty("relayBytesIn").EnumerateArray(), relayIn => AssertAbout(size, relayIn.GetInt64(), "each relay receives the object once"));
                    break;
            }
        }

        Assert.Equal("svg", svg.Root!.Name.LocalName);
        Assert.Equal(3, svg.Descendants().Count(e => e.Name.LocalName == "polyline")); // one line per mode, no floors on loopback
    }

    [Fact]
    public async Task Lab_TwoSitesOfTwoWorkers_RelayMovesTheObjectOncePerSite_DirectOncePerWorker()
    {
        LabRequirement.Ensure();
        var result = await CliRunner.RunAsync(
            ["bench", "staging", "--size", "8M", "--sites", "2", "--workers", "4", "--modes", "direct,relay", "--rate", "200mbit", "--rtt", "20ms", "--results", _dir.Sub("results")],
            _dir.Sub("data"), timeout: RunTimeout);

        Assert.True(result.ExitCode == 0, result.ToString());
        var runs = ReadResults(out string markdown, out var svg);
        Assert.DoesNotContain("NOT shaped", markdown, StringComparison.Ordinal);
        Assert.Equal(2, runs.GetArrayLength());
        foreach (var run in runs.EnumerateArray())
        {
            Assert.Equal(0, run.GetProperty("failedWorkers").GetInt32());
            var links = run.GetProperty("wanLinks").EnumerateArray().ToArray();
            Assert.Equal(3, links.Length); // the master's and two sites'
            bool direct = run.GetProperty("mode").GetString() == "direct";
            long perSite = direct ? 2 * Size : Size; // two workers per site
            foreach (var site in links.Skip(1))
            {
                AssertAbout(perSite, site.GetProperty("payloadIn").GetInt64(), $"{(direct ? "direct" : "relay")}: bytes into a site, from the kernel's counters");
            }

            AssertAbout(2 * perSite, links[0].GetProperty("payloadOut").GetInt64(), "bytes out of the master's site");
            Assert.True(run.GetProperty("floorSeconds").GetDouble() > 0);
        }

        Assert.Equal(4, svg.Descendants().Count(e => e.Name.LocalName == "polyline")); // two modes and their floors
    }

    [Fact]
    public async Task Lab_OverRudp_OnAWanThatLosesDuplicatesAndReorders_EveryWorkerVerifies_AndTheRelayMovesTheObjectOncePerSite()
    {
        LabRequirement.Ensure();
        var result = await CliRunner.RunAsync(
            ["bench", "staging", "--transport", "rudp", "--size", "8M", "--sites", "2", "--workers", "4", "--modes", "relay", "--rate", "200mbit", "--rtt", "20ms", "--loss", "0.01", "--duplicate", "0.02", "--reorder", "0.05", "--results", _dir.Sub("results")],
            _dir.Sub("data"), timeout: RunTimeout);

        Assert.True(result.ExitCode == 0, result.ToString());
        var runs = ReadResults(out string markdown, out _);
        Assert.Contains("every link over rudp", markdown, StringComparison.Ordinal);
        var run = Assert.Single(runs.EnumerateArray());
        Assert.Equal(0, run.GetProperty("failedWorkers").GetInt32());
        foreach (var site in run.GetProperty("wanLinks").EnumerateArray().Skip(1))
        {
            // Datagrams into the site: the object once, plus rudp's headers, what the 1% loss made it
            // send again and the 2% the link duplicated.
            long bytesIn = site.GetProperty("payloadIn").GetInt64();
            Assert.InRange(bytesIn, Size * 0.99, Size * 1.12);
        }
    }

    /// <summary>
    /// Every link under TLS (a CA made for the run, a certificate per node and for the
    /// participants), over rudp on a lossy WAN: every worker verifies, and a site still takes the
    /// object once, plus TLS's records and handshakes.
    /// </summary>
    [Fact]
    public async Task Lab_OverTlsOnRudp_EveryWorkerVerifies_AndTheRelayMovesTheObjectOncePerSite()
    {
        LabRequirement.Ensure();
        var result = await CliRunner.RunAsync(
            ["bench", "staging", "--transport", "tls+rudp", "--size", "8M", "--sites", "2", "--workers", "4", "--modes", "relay", "--rate", "200mbit", "--rtt", "20ms", "--loss", "0.01", "--results", _dir.Sub("results")],
            _dir.Sub("data"), timeout: RunTimeout);

        Assert.True(result.ExitCode == 0, result.ToString());
        var runs = ReadResults(out string markdown, out _);
        Assert.Contains("every link over tls+rudp", markdown, StringComparison.Ordinal);
        var run = Assert.Single(runs.EnumerateArray());
        Assert.Equal(0, run.GetProperty("failedWorkers").GetInt32());
        foreach (var site in run.GetProperty("wanLinks").EnumerateArray().Skip(1))
        {
            long bytesIn = site.GetProperty("payloadIn").GetInt64();
            Assert.InRange(bytesIn, Size * 0.99, Size * 1.15);
        }
    }

    /// <summary>
    /// Every site and the master's behind a cone NAT (docs/nat.md): the root registered by name at a
    /// rendezvous in a public site, relays and direct-mode workers reaching it through punched holes;
    /// every worker verifies, and a site takes the object once in relay mode.
    /// </summary>
    [Fact]
    public async Task Lab_BehindNat_EveryWorkerVerifies_InBothModes_AndTheRelayMovesTheObjectOncePerSite()
    {
        LabRequirement.Ensure();
        var result = await CliRunner.RunAsync(
            ["bench", "staging", "--transport", "rudp", "--nat", "--size", "8M", "--sites", "2", "--workers", "4", "--modes", "direct,relay", "--rate", "200mbit", "--rtt", "20ms", "--results", _dir.Sub("results")],
            _dir.Sub("data"), timeout: RunTimeout);

        Assert.True(result.ExitCode == 0, result.ToString());
        var runs = ReadResults(out string markdown, out _);
        Assert.Contains("behind a cone NAT", markdown, StringComparison.Ordinal);
        Assert.Equal(2, runs.GetArrayLength());
        foreach (var run in runs.EnumerateArray())
        {
            Assert.Equal(0, run.GetProperty("failedWorkers").GetInt32());
            Assert.Equal(3, run.GetProperty("wanLinks").GetArrayLength()); // the master's and the two sites': not the rendezvous's
        }

        var relay = runs.EnumerateArray().Single(r => r.GetProperty("mode").GetString() == "relay");
        foreach (var site in relay.GetProperty("wanLinks").EnumerateArray().Skip(1))
        {
            Assert.InRange(site.GetProperty("payloadIn").GetInt64(), Size * 0.99, Size * 1.12);
        }
    }

    [Fact]
    public async Task WithoutRoot_TheLabVariantExplainsWhatItNeeds_WithoutAStackTrace()
    {
        // As root, the same command runs as "nobody" (runuser), so this runs everywhere.
        var start = CliRunner.StartInfo(["bench", "staging", "--results", _dir.Sub("results")], _dir.Sub("data"));
        if (Environment.UserName == "root")
        {
            Assert.True(File.Exists("/usr/sbin/runuser") || File.Exists("/sbin/runuser"), "runuser (util-linux) is needed to drop root");
            var asNobody = new System.Diagnostics.ProcessStartInfo("runuser") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string argument in (string[])["-u", "nobody", "--", "env", "HOME=/tmp", "DOTNET_CLI_HOME=/tmp", start.FileName, .. start.ArgumentList])
            {
                asNobody.ArgumentList.Add(argument);
            }

            start = asNobody;
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        string error = await stderr;

        Assert.Equal(ExitCode.Usage, process.ExitCode);
        Assert.StartsWith("omnistore: error: ", error, StringComparison.Ordinal);
        Assert.Contains("root", error, StringComparison.Ordinal);
        Assert.Contains("--loopback", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadWorkerList_IsAUsageError()
    {
        var result = await CliRunner.RunAsync(_dir.Sub("data"), "bench", "staging", "--loopback", "--workers", "1,zero");
        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains("--workers", result.StandardError, StringComparison.Ordinal);
    }

    /// <summary>Within 2%: the object plus OmniStore's own framing and requests.</summary>
    private static void AssertAbout(long expected, long actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= expected * 0.02, $"{what}: expected {expected} bytes (within 2%), measured {actual}.");

    private JsonElement ReadResults(out string markdown, out XDocument svg)
    {
        string results = _dir.Sub("results");
        string json = Assert.Single(Directory.GetFiles(results, "staging-*.json"));
        markdown = File.ReadAllText(Path.ChangeExtension(json, ".md"));
        svg = XDocument.Load(Path.ChangeExtension(json, ".svg"));
        return JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("runs");
    }
}
