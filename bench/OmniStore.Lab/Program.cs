using System.Globalization;
using System.Runtime.InteropServices;
using OmniStore.Lab.Wire;

namespace OmniStore.Lab;

/// <summary>
/// The lab's executable. <c>up</c> builds a topology and holds it until SIGINT or SIGTERM;
/// <c>clean</c> removes what crashed runs left. The library starts the same executable in
/// <c>wire</c> mode for the wire.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: OmniStore.Lab up [--sites N] [--rate BITS] [--upload-rate BITS] [--delay TIME] [--jitter TIME]
                                [--loss P] [--duplicate P] [--reorder P] [--reorder-delay TIME]
                                [--nat none|cone|symmetric|upnp] [--master-rate BITS] [--master-delay TIME] [--seed N]
               OmniStore.Lab clean [--all]

          up     builds a master site and N sites (default 2) joined by a WAN core, prints the namespaces and
                 addresses, and holds them until SIGINT or SIGTERM, then removes everything.
                 BITS: bits per second, with k, M or G (1M = 1,000,000); TIME: 20ms, 1.5s, 500us.
                 --rate/--delay/... set every site's link; the master's link is unlimited unless --master-*.
                 P: a probability 0..1 per packet and direction. --duplicate: delivered twice; --reorder: held
                 back by --reorder-delay (default 1ms) so what follows within that time overtakes it.
                 --seed: repeats the loss, duplicate, reorder and jitter draws.
          clean  removes namespaces and processes of lab runs whose owning process is gone
                 (--all: of every run, live ones included). Run as root.
        """;

    public static async Task<int> Main(string[] args)
    {
        try
        {
            return args switch
            {
                [WireHost.Mode, ..] => WireHost.Run(args[1..]),
                ["up", ..] => await UpAsync(args[1..]).ConfigureAwait(false),
                ["clean", ..] => await CleanAsync(args[1..]).ConfigureAwait(false),
                _ => Fail(Usage),
            };
        }
        catch (Exception e) when (e is FormatException or ArgumentException or LabException or OverflowException)
        {
            return Fail($"OmniStore.Lab: error: {e.Message}");
        }
    }

    private static async Task<int> UpAsync(string[] args)
    {
        var siteCount = 2;
        var link = new WanLinkSpec();
        var master = new WanLinkSpec();
        var nat = NatKind.None;
        ulong? seed = null;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new FormatException($"{args[i]} needs a value.");
            i++;
            switch (args[i - 1])
            {
                case "--sites": siteCount = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--rate": link = link with { RateBitsPerSecond = ParseRate(value) }; break;
                case "--upload-rate": link = link with { UploadRateBitsPerSecond = ParseRate(value) }; break;
                case "--delay": link = link with { Delay = ParseTime(value) }; break;
                case "--jitter": link = link with { Jitter = ParseTime(value) }; break;
                case "--loss": link = link with { Loss = double.Parse(value, CultureInfo.InvariantCulture) }; break;
                case "--duplicate": link = link with { Duplicate = double.Parse(value, CultureInfo.InvariantCulture) }; break;
                case "--reorder": link = link with { Reorder = double.Parse(value, CultureInfo.InvariantCulture) }; break;
                case "--reorder-delay": link = link with { ReorderDelay = ParseTime(value) }; break;
                case "--nat": nat = Enum.Parse<NatKind>(value, ignoreCase: true); break;
                case "--master-rate": master = master with { RateBitsPerSecond = ParseRate(value) }; break;
                case "--master-delay": master = master with { Delay = ParseTime(value) }; break;
                case "--seed": seed = ulong.Parse(value, CultureInfo.InvariantCulture); break;
                default: return Fail(Usage);
            }
        }

        var topology = LabTopology.Uniform(siteCount, link, nat) with { Seed = seed };
        topology = topology with { Master = topology.Master with { Link = master } };

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Registered before the lab's own handlers, so it runs after them: by then the lab is gone.
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

        await using var lab = await Lab.StartAsync(topology).ConfigureAwait(false);
        Console.WriteLine($"lab {lab.Prefix} up (wire pid {lab.WireProcessId})");
        Console.WriteLine($"  core    {lab.CoreNamespace}");
        foreach (var site in lab.AllSites)
        {
            var natText = site.Spec.Nat == NatKind.None ? "" : $", {site.Spec.Nat.ToString().ToLowerInvariant()} NAT, public {site.PublicAddress}";
            Console.WriteLine($"  {site.Name,-7} {site.Namespace}  {site.Address}{natText}  gateway {site.GatewayNamespace}  link: {Describe(site.Spec.Link)}");
        }

        Console.WriteLine($"run a command in a site: ip netns exec {lab.Master.Namespace} COMMAND");
        Console.WriteLine("ready");
        Console.Out.Flush();
        await stop.Task.ConfigureAwait(false);
        return 0;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.TrySetResult();
        }
    }

    private static async Task<int> CleanAsync(string[] args)
    {
        var all = args switch
        {
            [] => false,
            ["--all"] => true,
            _ => throw new FormatException(Usage),
        };
        var report = await LabCleanup.RemoveLeftoversAsync(all).ConfigureAwait(false);
        foreach (var ns in report.RemovedNamespaces)
        {
            Console.WriteLine($"deleted namespace {ns}");
        }

        foreach (var pid in report.KilledProcesses)
        {
            Console.WriteLine($"killed process {pid}");
        }

        foreach (var run in report.LiveRuns)
        {
            Console.WriteLine($"left live run {run} (its owner still runs; --all removes it too)");
        }

        Console.WriteLine($"removed {report.RemovedRuns.Count} run(s)");
        return 0;
    }

    private static string Describe(WanLinkSpec link)
    {
        var rate = link.RateBitsPerSecond is { } r ? $"{r / 1e6:0.###} Mbit/s" : "unlimited";
        if (link.UploadRateBitsPerSecond is { } up)
        {
            rate += $" (up {up / 1e6:0.###} Mbit/s)";
        }

        var text = string.Create(CultureInfo.InvariantCulture, $"{rate}, delay {link.Delay.TotalMilliseconds} ms, jitter {link.Jitter.TotalMilliseconds} ms, loss {link.Loss}");
        if (link.Duplicate > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", duplicate {link.Duplicate}");
        }

        if (link.Reorder > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", reorder {link.Reorder} by {link.ReorderDelay.TotalMilliseconds} ms");
        }

        return text;
    }

    private static long ParseRate(string text)
    {
        var (number, factor) = text[^1] switch
        {
            'k' or 'K' => (text[..^1], 1e3),
            'm' or 'M' => (text[..^1], 1e6),
            'g' or 'G' => (text[..^1], 1e9),
            _ => (text, 1.0),
        };
        return checked((long)(double.Parse(number, CultureInfo.InvariantCulture) * factor));
    }

    private static TimeSpan ParseTime(string text)
    {
        foreach (var (suffix, unit) in new[] { ("us", 1e-3), ("ms", 1.0), ("s", 1e3) })
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                return TimeSpan.FromMilliseconds(double.Parse(text[..^suffix.Length], CultureInfo.InvariantCulture) * unit);
            }
        }

        throw new FormatException($"'{text}' is not a time such as 20ms, 1.5s or 500us.");
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 2;
    }
}
