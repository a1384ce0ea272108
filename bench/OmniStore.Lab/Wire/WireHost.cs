using System.Globalization;
using OmniStore.Lab.Internal;

namespace OmniStore.Lab.Wire;

/// <summary>
/// The wire process: creates a pair of TUN devices per link, pumps packets between each pair in
/// both directions, and takes commands on standard input. It exits when standard input closes,
/// which is also what happens when the process that started it dies, however it dies: its TUN
/// devices vanish with it.
/// </summary>
/// <remarks>
/// Command line: <c>wire --tag TAG [--queue PACKETS] SITE_END CORE_END [SITE_END CORE_END ...]</c>;
/// one pair of ends per link, each <c>NAMESPACE:DEVICE</c>: the device is created right inside that
/// network namespace, so it never appears in the host's. It prints <c>ready</c> once every device exists. Commands,
/// one per line, each answered by <c>ok</c> or <c>error MESSAGE</c>:
/// <c>set LINK up|down DELAY_NS JITTER_NS LOSS DUPLICATE REORDER REORDER_DELAY_NS SEED</c> (up: from the site end to the core end),
/// and <c>stats</c> (a line per direction before the <c>ok</c>).
/// </remarks>
internal static class WireHost
{
    public const string Mode = "wire";
    public const string ReadyLine = "ready";
    public const int DefaultQueuePackets = 16384;

    public static int Run(string[] args)
    {
        var devicePairs = new List<(string SiteEnd, string CoreEnd)>();
        var queue = DefaultQueuePackets;
        var names = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--tag":
                    i++; // only marks the process as the lab's: clean-up finds leftover wires by it
                    break;
                case "--queue":
                    queue = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                default:
                    names.Add(args[i]);
                    break;
            }
        }

        if (names.Count == 0 || names.Count % 2 != 0)
        {
            Console.Error.WriteLine("usage: wire --tag TAG [--queue PACKETS] NS:DEVICE NS:DEVICE [NS:DEVICE NS:DEVICE ...]");
            return 2;
        }

        for (var i = 0; i < names.Count; i += 2)
        {
            devicePairs.Add((names[i], names[i + 1]));
        }

        var devices = new List<TunDevice>();
        var pumps = new List<(WirePump Up, WirePump Down)>();
        try
        {
            foreach (var (siteEnd, coreEnd) in devicePairs)
            {
                var site = CreateIn(siteEnd);
                devices.Add(site);
                var core = CreateIn(coreEnd);
                devices.Add(core);
                var up = new WirePump($"{pumps.Count} up", site.Fd, core.Fd, queue);
                var down = new WirePump($"{pumps.Count} down", core.Fd, site.Fd, queue);
                pumps.Add((up, down));
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException or LabException)
        {
            Console.Error.WriteLine($"wire: {e.Message}");
            return 1;
        }

        foreach (var (up, down) in pumps)
        {
            up.Start();
            down.Start();
        }

        Console.Out.WriteLine(ReadyLine);
        Console.Out.Flush();

        while (Console.In.ReadLine() is { } line)
        {
            var answer = Execute(line, pumps);
            Console.Out.WriteLine(answer);
            Console.Out.Flush();
        }

        // Standard input closed: the lab is done with us (or gone). Closing the descriptors deletes the devices.
        foreach (var device in devices)
        {
            device.Dispose();
        }

        return 0;
    }

    private static TunDevice CreateIn(string end)
    {
        var colon = end.LastIndexOf(':');
        if (colon <= 0)
        {
            throw new ArgumentException($"'{end}' is not NAMESPACE:DEVICE.");
        }

        var device = end[(colon + 1)..];
        return NetworkNamespace.Run(end[..colon], () => TunDevice.Create(device));
    }

    private static string Execute(string line, List<(WirePump Up, WirePump Down)> pumps)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        try
        {
            switch (parts)
            {
                case ["set", var link, var direction, var delay, var jitter, var loss, var duplicate, var reorder, var reorderDelay, var seed]:
                    var (up, down) = pumps[int.Parse(link, CultureInfo.InvariantCulture)];
                    var pump = direction switch
                    {
                        "up" => up,
                        "down" => down,
                        _ => throw new FormatException($"direction '{direction}' is neither up nor down"),
                    };
                    pump.SetConditions(new WireConditions(
                        long.Parse(delay, CultureInfo.InvariantCulture),
                        long.Parse(jitter, CultureInfo.InvariantCulture),
                        double.Parse(loss, CultureInfo.InvariantCulture),
                        double.Parse(duplicate, CultureInfo.InvariantCulture),
                        double.Parse(reorder, CultureInfo.InvariantCulture),
                        long.Parse(reorderDelay, CultureInfo.InvariantCulture),
                        ulong.Parse(seed, CultureInfo.InvariantCulture)));
                    return "ok";
                case ["stats"]:
                    var lines = pumps.SelectMany(p => new[] { p.Up, p.Down }).Select(p => p.Statistics() + (p.StopReason is { } reason ? $" stopped={reason}" : ""));
                    return string.Join('\n', lines.Append("ok"));
                default:
                    return $"error unknown command '{line}'";
            }
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            return $"error {e.Message}";
        }
    }
}
