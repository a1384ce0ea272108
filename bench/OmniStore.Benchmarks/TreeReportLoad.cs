using System.Diagnostics;
using System.Security.Cryptography;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Benchmarks;

/// <summary>
/// What TREE_REPORTs cost a root (docs/performance.md, "The tree report"): <c>tree-reports [RELAYS]
/// [SECONDS]</c> starts a root in a process of its own and connects RELAYS simulated relays (64) to it
/// over loopback tcp; for SECONDS (30) they stay connected and quiet, then for SECONDS each sends a
/// report every INTERVAL seconds (a relay's default; itself with 8 transfers and 4 errors, as a busy relay would). The root
/// process's CPU time of the second phase less the first, over its length, is the reports' cost.
/// </summary>
internal static class TreeReportLoad
{
    public const string Command = "tree-reports";

    /// <summary>The child process: a root that prints its address and serves until its input closes.</summary>
    public const string RootCommand = "tree-reports-root";

    public static int RunRoot(string[] args) => RunRootAsync(Convert.FromHexString(args[0])).GetAwaiter().GetResult();

    private static async Task<int> RunRootAsync(byte[] secret)
    {
        string directory = Path.Combine(Path.GetTempPath(), $"omnistore-tree-reports-{Guid.NewGuid():N}");
        await using (var root = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Site = "root",
            DataDirectory = directory,
            RelaySecret = secret,
        }))
        {
            Console.WriteLine(root.Address);
            await Console.In.ReadLineAsync(); // the parent closes it when done
            var tree = await root.GetTreeAsync(null, CancellationToken.None);
            Console.WriteLine(tree.Root.Children.Count);
        }

        Directory.Delete(directory, recursive: true);
        return 0;
    }

    public static int Run(string[] args)
    {
        int relays = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 64;
        int seconds = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 30;
        int interval = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : (int)TreeNodeOptions.DefaultTreeReportInterval.TotalSeconds;
        if (relays is < 1 or > 1000 || seconds is < 1 or > 600 || interval is < 1 or > 60)
        {
            Console.Error.WriteLine($"usage: {Command} [RELAYS 1..1000] [SECONDS 1..600] [INTERVAL 1..60 s]");
            return 2;
        }

        return RunAsync(relays, seconds, interval).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int relays, int seconds, int interval)
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        using var rootProcess = Process.Start(new ProcessStartInfo(Environment.ProcessPath!)
        {
            ArgumentList = { typeof(TreeReportLoad).Assembly.Location, RootCommand, Convert.ToHexString(secret) },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        })!;
        var address = NodeAddress.Parse((await rootProcess.StandardOutput.ReadLineAsync())!);
        var connections = new List<PeerConnection>();
        var identities = new List<ConnectionIdentity>();
        try
        {
            for (int i = 0; i < relays; i++)
            {
                var counters = new LinkCounters();
                var link = await TransportRegistry.Default.ConnectAsync(address, counters, CancellationToken.None);
                var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, $"site{i}", null) { RelaySecret = secret };
                identities.Add(identity);
                connections.Add(await PeerConnection.StartAsync(link, link, true, identity, null, counters, null, CancellationToken.None));
            }

            var reports = identities.Select(i => TreeReportMessages.Encode(new TreeReport([], [Entry(i)], 0))).ToList();
            Func<int, Task> round = async second =>
            {
                if (second % interval != 0)
                {
                    return;
                }

                // Spread over the interval, as independent relays would be.
                var sends = connections.Select(async (c, i) =>
                {
                    await Task.Delay(i * 1000 * interval / relays);
                    using var answer = await c.RequestAsync(FrameType.TreeReport, reports[i], CancellationToken.None);
                });
                await Task.WhenAll(sends);
            };

            // Warm: every path compiled and every buffer grown before anything is measured.
            await MeasureAsync(rootProcess, interval, round);
            var quiet = await MeasureAsync(rootProcess, seconds, _ => Task.CompletedTask);
            var busy = await MeasureAsync(rootProcess, seconds, round);

            // The root's own part, alone: decoding a report as it arrives (what its handler does besides the OK).
            const int Decodes = 20_000;
            var decode = Stopwatch.StartNew();
            for (int i = 0; i < Decodes; i++)
            {
                TreeReportMessages.Decode(reports[i % relays], identities[i % relays].NodeId);
            }

            decode.Stop();
            double perReport = decode.Elapsed.TotalMicroseconds / Decodes;

            rootProcess.StandardInput.Close();
            string children = (await rootProcess.StandardOutput.ReadLineAsync()) ?? "?";
            double percent = (busy - quiet).TotalSeconds / seconds * 100;
            Console.WriteLine($"{relays} relays, a report each every {interval} s, {seconds} s each phase: CPU quiet {quiet.TotalMilliseconds:F0} ms, reporting {busy.TotalMilliseconds:F0} ms; the reports cost the root {percent:F2}% of one core (its tree had {children} relays; a report is {reports[0].Length} bytes)");
            Console.WriteLine($"decoding one report: {perReport:F1} us; {relays} every {interval} s: {perReport * relays / interval / 1e4:F3}% of one core");
            return 0;
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }

            rootProcess.StandardInput.Close();
            await rootProcess.WaitForExitAsync();
        }
    }

    /// <summary>The CPU time <paramref name="process"/> used over <paramref name="seconds"/> seconds, running <paramref name="tick"/> once a second.</summary>
    private static async Task<TimeSpan> MeasureAsync(Process process, int seconds, Func<int, Task> tick)
    {
        process.Refresh();
        var before = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (int second = 0; second < seconds; second++)
        {
            await tick(second);
            var next = TimeSpan.FromSeconds(second + 1) - clock.Elapsed;
            if (next > TimeSpan.Zero)
            {
                await Task.Delay(next);
            }
        }

        process.Refresh();
        return process.TotalProcessorTime - before;
    }

    private static TreeReportEntry Entry(ConnectionIdentity relay) =>
        new(-1, relay.NodeId, relay.Site, 0, true, 123_456_789, 98_765, 1500, "tcp direct", 3L << 30, 4L << 30, 1000, 10, 16, 0, 4, 0,
            [.. Enumerable.Range(0, TreeReportMessages.MaxTransfers).Select(i => new TreeTransfer($"results/run-{i}", "", 1 << 20, 8 << 20))],
            [.. Enumerable.Range(0, TreeReportMessages.MaxErrors).Select(i => new TreeError(1_700_000_000_000, $"a child from 127.0.0.1:{i} refused: no handshake within 10 s"))]);
}
