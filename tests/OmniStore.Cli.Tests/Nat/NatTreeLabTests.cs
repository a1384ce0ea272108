using System.Diagnostics;
using OmniStore.Cli.Tests.Infrastructure;
using OmniStore.Lab;
using OmniStore.Testing;
using LabNetwork = OmniStore.Lab.Lab;

namespace OmniStore.Cli.Tests.Nat;

/// <summary>
/// A tree behind NATs, as an operator runs it (docs/nat.md): the root behind a cone NAT registered
/// as <c>master</c> at a public <c>omnistore rendezvous</c>, a relay behind another cone NAT whose
/// parent is <c>rudp://master</c> and which registers itself, and a worker behind a third NAT that
/// names that relay <c>rudp://site-a</c>. Every link is punched, the data moves end to end, and
/// the rendezvous's host carries a small fraction of the bytes.
/// </summary>
public sealed class NatTreeLabTests : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);
    private readonly TempDirectory _dir = new("omnistore-nattree");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ARelayBehindACone_ServesAWorkerBehindAnother_WhoseRootIsBehindAThird_ThroughAPublicRendezvous()
    {
        LabRequirement.Ensure();
        var link = new WanLinkSpec { RateBitsPerSecond = 200_000_000, Delay = TimeSpan.FromMilliseconds(5) };
        await using var lab = await LabNetwork.StartAsync(new LabTopology
        {
            Master = new SiteSpec("master") { Link = link, Nat = NatKind.Cone },
            Sites =
            [
                new SiteSpec("public") { Link = link },
                new SiteSpec("site-a") { Link = link, Nat = NatKind.Cone },
                new SiteSpec("site-b") { Link = link, Nat = NatKind.Cone },
            ],
        }, Token);
        string secret = _dir.Sub("secret");
        await File.WriteAllBytesAsync(secret, NatLab.Secret, Token);
        var before = await lab["public"].ReadWanCountersAsync(Token);

        await using var rendezvous = await DaemonProcess.StartInNamespaceAsync(lab["public"].Namespace, _dir.Sub("rv"), "rendezvous", "--listen", $"rudp://{lab["public"].Address}:0", "--secret-file", secret);
        await using var root = await DaemonProcess.StartInNamespaceAsync(lab.Master.Namespace, _dir.Sub("root-cli"), "relay",
            "--listen", $"rudp://{lab.Master.Address}:0", "--node-id", "master", "--rendezvous", rendezvous.Address,
            "--secret-file", secret, "--open-relays", "--site", "master", "--data-dir", _dir.Sub("root"));
        await using var relay = await DaemonProcess.StartInNamespaceAsync(lab["site-a"].Namespace, _dir.Sub("relay-cli"), "relay",
            "--listen", $"rudp://{lab["site-a"].Address}:0", "--parent", "rudp://master", "--node-id", "site-a", "--rendezvous", rendezvous.Address,
            "--secret-file", secret, "--site", "site-a", "--cache-size", "256M", "--data-dir", _dir.Sub("relay"));

        var data = new byte[20 << 20];
        new Random(17).NextBytes(data);
        string input = _dir.Sub("input");
        await File.WriteAllBytesAsync(input, data, Token);
        var put = await RunAsync(lab.Master, "put", "staged/input", input, "--relay", root.Address, "--secret-file", secret, "--quiet");
        Assert.True(put.ExitCode == 0, $"put: {put.StandardError}");

        // The worker knows the relay by name only; it is behind a NAT of its own.
        string output = _dir.Sub("output");
        var clock = Stopwatch.StartNew();
        var get = await RunAsync(lab["site-b"], "get", "staged/input", "-o", output, "--relay", "rudp://site-a", "--rendezvous", rendezvous.Address, "--secret-file", secret);
        Assert.True(get.ExitCode == 0, $"get: {get.StandardError}\nrelay: {relay.StandardError}\nroot: {root.StandardError}");
        Assert.Equal(data, await File.ReadAllBytesAsync(output, Token));
        TestContext.Current.TestOutputHelper?.WriteLine($"20 MiB through a punched root link and a punched worker link in {clock.ElapsedMilliseconds} ms");

        Assert.Contains("Reached master", relay.StandardError, StringComparison.Ordinal);
        Assert.Contains("(punched)", relay.StandardError, StringComparison.Ordinal);
        var through = await lab["public"].ReadWanCountersAsync(Token) - before;
        Assert.True(through.TotalBytes < data.Length / 20, $"{through.TotalBytes} bytes crossed the rendezvous's link for {data.Length} bytes of data (limit 5%)");
        TestContext.Current.TestOutputHelper?.WriteLine($"the rendezvous's link carried {through.TotalBytes} bytes ({100.0 * through.TotalBytes / data.Length:0.00}% of the data)");
    }

    private static Task<LabCommandResult> RunAsync(LabSite site, params string[] args)
    {
        var start = CliRunner.StartInfo(args, "unused");
        return site.RunAsync(start.FileName, start.ArgumentList, CommandTimeout, Token);
    }
}
