using System.Globalization;
using Spectre.Console;

namespace OmniStore.Cli.Demo;

/// <summary>Prints a <see cref="TreeDemoResult"/>: a table per mode, then what the relays saved.</summary>
internal static class TreeDemoReport
{
    public static void Write(TreeDemoResult result, string directory)
    {
        var c = CultureInfo.InvariantCulture;
        var console = Terminal.StandardOutput();
        var output = Console.Out;
        int workers = result.Modes.Count == 0 ? 0 : result.Modes[0].Workers;
        output.WriteLine("OmniStore tree demo: a root, 2 site relays and 8 workers (4 per site), over loopback TCP in this process");
        output.WriteLine(string.Create(c, $"stores:      {directory} (temporary, deleted at exit)"));
        output.WriteLine(string.Create(c, $"object:      '{result.ObjectName}', {ByteSize.Format(result.Length)} in chunks of {ByteSize.Format(result.ChunkSize)}"));
        output.WriteLine(string.Create(c, $"put:         {ByteSize.Format(result.Length)} from the master to the root in {result.PutTime.TotalSeconds:0.000} s (durable at the root)"));

        foreach (var mode in result.Modes)
        {
            output.WriteLine();
            output.WriteLine(string.Create(c, $"mode {mode.Name}: {mode.Source}, {mode.Workers} workers at once"));
            var table = new Table()
                .Border(Terminal.Plain ? TableBorder.Ascii : TableBorder.Rounded)
                .AddColumn("measured (node counters)")
                .AddColumn(new TableColumn("payload").RightAligned())
                .AddColumn(new TableColumn("wire").RightAligned());
            table.AddRow(Cells("time", string.Create(c, $"{mode.Time.TotalSeconds:0.000} s"), ""));
            table.AddRow(Cells("bytes sent by the root", ByteSize.Format(mode.RootSent.Payload), ByteSize.Format(mode.RootSent.Wire)));
            foreach (var (site, bytes) in mode.RelayReceived)
            {
                table.AddRow(Cells($"bytes relay {site} received from the root", ByteSize.Format(bytes.Payload), ByteSize.Format(bytes.Wire)));
            }

            table.AddRow(Cells("workers' copies verified", string.Create(c, $"{mode.Verified} of {mode.Workers}"), ""));
            console.Write(table);
            output.WriteLine(string.Create(c, $"  {mode.Workers} x {ByteSize.Format(result.Length)} delivered in {mode.Time.TotalSeconds:0.000} s = {Throughput(mode.Workers * result.Length, mode.Time)} MB/s; the root sent {Copies(mode.RootSent.Payload, result.Length)} copies of the object"));
        }

        if (result.Modes.FirstOrDefault(m => m.Name == "direct") is { } direct && result.Modes.FirstOrDefault(m => m.Name == "relay") is { } relay)
        {
            output.WriteLine();
            string factor = relay.RootSent.Wire <= 0 ? "n/a" : (direct.RootSent.Wire / (double)relay.RootSent.Wire).ToString("0.0", c);
            output.WriteLine(string.Create(c, $"root sent:   {ByteSize.Format(direct.RootSent.Wire)} direct, {ByteSize.Format(relay.RootSent.Wire)} through the relays ({factor}x less)"));
            foreach (var (site, bytes) in relay.RelayReceived)
            {
                output.WriteLine(string.Create(c, $"relay {site}: received the object {Copies(bytes.Payload, result.Length)} times for its {relay.Workers / relay.RelayReceived.Count} workers"));
            }
        }

        int verified = result.Modes.Sum(m => m.Verified);
        int total = result.Modes.Sum(m => m.Workers);
        output.WriteLine(verified == total
            ? string.Create(c, $"verified OK: all {total} worker copies ({workers} workers x {result.Modes.Count} modes) equal the object put, byte for byte and by XXH3-128")
            : string.Create(c, $"verification FAILED: {total - verified} of {total} worker copies differ from the object put"));
    }

    private static Text[] Cells(params string[] values) => values.Select(v => new Text(v)).ToArray();

    private static string Copies(long bytes, long length) =>
        length == 0 ? "n/a" : (bytes / (double)length).ToString("0.00", CultureInfo.InvariantCulture);

    private static string Throughput(long bytes, TimeSpan time) =>
        time <= TimeSpan.Zero ? "n/a" : (bytes / 1e6 / time.TotalSeconds).ToString("0.0", CultureInfo.InvariantCulture);
}
