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
    public async Task TreeDemo_MeasuresBothModes_TheRelaysGetTheObjectOnce_AndEveryCopyIsVerified()
    {
        var demo = await CliRunner.RunAsync(["demo", "--size", "8M"], _dir.Sub("unused"), timeout: DemoTimeout);

        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("mode direct:", demo.Output, StringComparison.Ordinal);
        Assert.Contains("mode relay:", demo.Output, StringComparison.Ordinal);
        Assert.Contains("verified OK: all 16 worker copies", demo.Output, StringComparison.Ordinal);
        Assert.Equal(2, Regex.Count(demo.Output, @"\| workers' copies verified +\| +8 of 8 \|"));

        // 8 workers x 8 MiB straight from the root, then 2 relays x 8 MiB: measured, so give the
        // protocol its overhead (1%), but a relay that fetched a chunk twice would show.
        var rootSent = RootSentLine().Match(demo.Output);
        Assert.True(rootSent.Success, demo.Output);
        Assert.InRange(Size(rootSent.Groups["direct"]), 64L << 20, (long)((64L << 20) * 1.01));
        Assert.InRange(Size(rootSent.Groups["relay"]), 16L << 20, (long)((16L << 20) * 1.01));
        Assert.Matches(@"relay site-a: received the object 1\.0[01] times", demo.Output);
        Assert.Matches(@"relay site-b: received the object 1\.0[01] times", demo.Output);

        var stores = StoresLine().Match(demo.Output);
        Assert.True(stores.Success, demo.Output);
        Assert.False(Directory.Exists(stores.Groups["path"].Value), "the temporary stores were left behind");
    }

    [Fact]
    public async Task Demo_StoreWithoutEmbedded_IsAUsageError()
    {
        var demo = await CliRunner.RunAsync(["demo", "--store", _dir.Sub("s")], _dir.Sub("unused"));

        Assert.Equal(ExitCode.Usage, demo.ExitCode);
        Assert.Contains("--embedded", Assert.Single(demo.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbeddedDemo_Verifies_ReportsDedup_AndDeletesItsTemporaryStore()
    {
        var demo = await CliRunner.RunAsync(["demo", "--embedded", "--size", "8M"], _dir.Sub("unused"), timeout: DemoTimeout);

        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("verified OK", demo.Output, StringComparison.Ordinal);
        Assert.Matches(@"put: .* MB/s", demo.Output);
        Assert.Matches(@"get: .* MB/s", demo.Output);

        // 8 MiB of 1 MiB chunks plus a 4 MiB variant: 12 chunks, of which the data set repeats 4.
        Assert.Contains("4 of 12 chunks are duplicates", demo.Output, StringComparison.Ordinal);

        // Measured by the store: it kept the 8 MiB of new content, not the 12 MiB put.
        long grew = StoreGrowth(demo.Output);
        Assert.InRange(grew, 8L << 20, (10L << 20) - 1);

        var store = StoreLine().Match(demo.Output);
        Assert.True(store.Success, demo.Output);
        Assert.False(Directory.Exists(store.Groups["path"].Value), "the temporary store was left behind");
    }

    [Fact]
    public async Task EmbeddedDemo_RunTwiceOnOneStore_WritesAlmostNothingTheSecondTime()
    {
        string store = _dir.Sub("kept");
        var first = await CliRunner.RunAsync(["demo", "--embedded", "--size", "2M", "--chunk-size", "256K", "--store", store], store, timeout: DemoTimeout);
        var second = await CliRunner.RunAsync(["demo", "--embedded", "--size", "2M", "--chunk-size", "256K", "--store", store], store, timeout: DemoTimeout);

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
        return Size(match.Groups["value"].Value, match.Groups["unit"].Value);
    }

    /// <summary>A size as the CLI prints it, "8.0 MiB", in bytes (to the precision printed).</summary>
    private static long Size(Group group)
    {
        var parts = group.Value.Split(' ');
        return Size(parts[0], parts[1]);
    }

    private static long Size(string number, string unit)
    {
        double value = double.Parse(number, CultureInfo.InvariantCulture);
        int shift = unit switch
        {
            "B" => 0,
            "KiB" => 10,
            "MiB" => 20,
            "GiB" => 30,
            var other => throw new InvalidOperationException($"unexpected unit {other}"),
        };
        return (long)(value * (1L << shift));
    }

    [GeneratedRegex(@"^dedup:.*the store grew by (?<value>[0-9.]+) (?<unit>B|KiB|MiB|GiB)\s*$", RegexOptions.Multiline)]
    private static partial Regex GrowthLine();

    [GeneratedRegex(@"^store:\s+(?<path>.+) \(temporary", RegexOptions.Multiline)]
    private static partial Regex StoreLine();

    [GeneratedRegex(@"^stores:\s+(?<path>.+) \(temporary", RegexOptions.Multiline)]
    private static partial Regex StoresLine();

    [GeneratedRegex(@"^root sent:\s+(?<direct>[0-9.]+ (B|KiB|MiB|GiB)) direct, (?<relay>[0-9.]+ (B|KiB|MiB|GiB)) through the relays", RegexOptions.Multiline)]
    private static partial Regex RootSentLine();
}
