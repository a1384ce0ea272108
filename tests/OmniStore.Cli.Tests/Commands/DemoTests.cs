using System.Globalization;
using System.Text.RegularExpressions;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

public sealed partial class DemoTests : IDisposable
{
    private static readonly TimeSpan DemoTimeout = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Demo_Verifies_ReportsDedup_AndDeletesItsTemporaryStore()
    {
        var demo = await CliRunner.RunAsync(["demo", "--size", "8M"], _dir.Sub("unused"), timeout: DemoTimeout);

        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("verified OK", demo.Output, StringComparison.Ordinal);
        Assert.Matches(@"put: .* MB/s", demo.Output);
        Assert.Matches(@"get: .* MB/s", demo.Output);

        // 8 MiB of 1 MiB chunks plus a 4 MiB variant: 12 chunks, of which the data set repeats 4.
        Assert.Contains("4 of 12 chunks are duplicates", demo.Output, StringComparison.Ordinal);

        // Measured on disk: the store kept the 8 MiB of new content, not the 12 MiB put.
        long grew = StoreGrowth(demo.Output);
        Assert.InRange(grew, 8L << 20, (10L << 20) - 1);

        var store = StoreLine().Match(demo.Output);
        Assert.True(store.Success, demo.Output);
        Assert.False(Directory.Exists(store.Groups["path"].Value), "the temporary store was left behind");
    }

    [Fact]
    public async Task Demo_RunTwiceOnOneStore_WritesAlmostNothingTheSecondTime()
    {
        string store = _dir.Sub("kept");
        var first = await CliRunner.RunAsync(["demo", "--size", "2M", "--chunk-size", "256K", "--store", store], store, timeout: DemoTimeout);
        var second = await CliRunner.RunAsync(["demo", "--size", "2M", "--chunk-size", "256K", "--store", store], store, timeout: DemoTimeout);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.True(Directory.Exists(store), "--store must be kept");
        Assert.True(StoreGrowth(first.Output) >= 2L << 20, first.Output);

        // Every chunk is already there: only the new bindings and manifests are written.
        Assert.True(StoreGrowth(second.Output) < 256L << 10, second.Output);
    }

    private static long StoreGrowth(string output)
    {
        var match = GrowthLine().Match(output);
        Assert.True(match.Success, output);
        double value = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        int shift = match.Groups["unit"].Value switch
        {
            "B" => 0,
            "KiB" => 10,
            "MiB" => 20,
            "GiB" => 30,
            var unit => throw new InvalidOperationException($"unexpected unit {unit}"),
        };
        return (long)(value * (1L << shift));
    }

    [GeneratedRegex(@"^dedup:.*the store grew by (?<value>[0-9.]+) (?<unit>B|KiB|MiB|GiB)\s*$", RegexOptions.Multiline)]
    private static partial Regex GrowthLine();

    [GeneratedRegex(@"^store:\s+(?<path>.+) \(temporary", RegexOptions.Multiline)]
    private static partial Regex StoreLine();
}
