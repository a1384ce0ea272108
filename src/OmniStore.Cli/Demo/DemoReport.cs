using System.Globalization;
using Spectre.Console;

namespace OmniStore.Cli.Demo;

/// <summary>Prints a <see cref="DemoResult"/>.</summary>
internal static class DemoReport
{
    public static void Write(DemoResult result, bool temporaryStore)
    {
        var c = CultureInfo.InvariantCulture;
        long totalBytes = result.Objects.Sum(o => o.Length);
        int totalChunks = result.Objects.Sum(o => o.Chunks);
        int newChunks = result.Objects.Sum(o => o.NewChunks);
        long newBytes = result.Objects.Sum(o => o.NewBytes);
        long growth = result.Objects.Sum(o => o.StoreGrowth);
        int duplicates = totalChunks - newChunks;

        var output = Console.Out;
        output.WriteLine("OmniStore demo");
        output.WriteLine(string.Create(c, $"store:       {result.StoreDirectory}{(temporaryStore ? " (temporary, deleted at exit)" : "")}"));
        output.WriteLine(string.Create(c, $"chunk size:  {ByteSize.Format(result.ChunkSize)}"));
        output.WriteLine();

        var table = new Table()
            .AddColumn("object")
            .AddColumn(new TableColumn("size").RightAligned())
            .AddColumn(new TableColumn("chunks").RightAligned())
            .AddColumn(new TableColumn("new content").RightAligned())
            .AddColumn(new TableColumn("duplicates").RightAligned())
            .AddColumn(new TableColumn("store grew by").RightAligned());
        foreach (var o in result.Objects)
        {
            table.AddRow(Cells(o.Name, ByteSize.Format(o.Length), Int(o.Chunks), Int(o.NewChunks), Int(o.Chunks - o.NewChunks), ByteSize.Format(o.StoreGrowth)));
        }

        table.AddRow(Cells("total", ByteSize.Format(totalBytes), Int(totalChunks), Int(newChunks), Int(duplicates), ByteSize.Format(growth)));
        Terminal.StandardOutput().Write(table.Border(Terminal.Plain ? TableBorder.Ascii : TableBorder.Rounded));
        output.WriteLine("  new content: chunks whose XXH3-128 no earlier chunk of the data set has; duplicates: the others.");
        output.WriteLine("  store grew by: the bytes the store's logs held after the Put minus before it (as the store counts them).");
        output.WriteLine();

        double share = totalChunks == 0 ? 0 : 100.0 * duplicates / totalChunks;
        output.WriteLine(string.Create(c, $"dedup:       {duplicates} of {totalChunks} chunks are duplicates ({share:0.0}%): {ByteSize.Format(newBytes)} of new content in {ByteSize.Format(totalBytes)} put; the store grew by {ByteSize.Format(growth)}"));
        output.WriteLine(string.Create(c, $"put:         {ByteSize.Format(totalBytes)} in {result.PutTime.TotalSeconds:0.000} s = {Throughput(totalBytes, result.PutTime)} MB/s (chunking, hashing, dedup, durable commit)"));
        output.WriteLine(string.Create(c, $"get:         {ByteSize.Format(totalBytes)} in {result.GetTime.TotalSeconds:0.000} s = {Throughput(totalBytes, result.GetTime)} MB/s (each chunk verified by the store, then compared and hashed here)"));
        output.WriteLine(string.Create(c, $"verified OK: {result.Objects.Count} objects, {totalBytes} bytes read back equal to what was put, byte for byte and by XXH3-128"));
    }

    private static Text[] Cells(params string[] values) => values.Select(v => new Text(v)).ToArray();

    private static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Throughput(long bytes, TimeSpan time) =>
        time <= TimeSpan.Zero ? "n/a" : (bytes / 1e6 / time.TotalSeconds).ToString("0.0", CultureInfo.InvariantCulture);
}
