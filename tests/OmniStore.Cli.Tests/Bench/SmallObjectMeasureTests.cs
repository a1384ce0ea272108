using System.Diagnostics;
using OmniStore.Cli.Bench;

namespace OmniStore.Cli.Tests.Bench;

/// <summary>
/// The pure parts of <c>omnistore bench small</c> and <c>bench gather</c>: nearest-rank
/// percentiles, the recorder's bound on the operation count, and the checks of the settings.
/// </summary>
public sealed class SmallObjectMeasureTests
{
    private static long Microseconds(long us) => us * Stopwatch.Frequency / 1_000_000;

    [Fact]
    public void Percentile_OfOneToAHundred_IsTheNearestRank()
    {
        long[] sorted = [.. Enumerable.Range(1, 100).Select(i => (long)i)];

        Assert.Equal(50, LatencySummary.Percentile(sorted, 50));
        Assert.Equal(99, LatencySummary.Percentile(sorted, 99));
        Assert.Equal(100, LatencySummary.Percentile(sorted, 100));
        Assert.Equal(1, LatencySummary.Percentile(sorted, 0.5));
    }

    [Fact]
    public void Percentile_OfFewValues_RoundsTheRankUp()
    {
        long[] sorted = [10, 20, 30];

        Assert.Equal(20, LatencySummary.Percentile(sorted, 50)); // rank ceil(1.5) = 2
        Assert.Equal(30, LatencySummary.Percentile(sorted, 99)); // rank ceil(2.97) = 3
    }

    [Fact]
    public void Percentile_OfNothingOrOutOfRange_Throws()
    {
        Assert.Throws<ArgumentException>(() => LatencySummary.Percentile([], 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencySummary.Percentile([1], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencySummary.Percentile([1], 101));
    }

    [Fact]
    public void FromTicks_OfUnsortedLatencies_SortsAndSummarisesOnlyTheCountGiven()
    {
        // 200 latencies of 200..1 us in reverse order, then a stale entry past the count.
        var ticks = new long[201];
        for (int i = 0; i < 200; i++)
        {
            ticks[i] = Microseconds(200 - i);
        }

        ticks[200] = Microseconds(1_000_000);

        var summary = LatencySummary.FromTicks(ticks, 200);

        Assert.Equal(200, summary.Count);
        Assert.Equal(100, summary.P50Microseconds, precision: 3);
        Assert.Equal(198, summary.P99Microseconds, precision: 3);
        Assert.Equal(200, summary.MaxMicroseconds, precision: 3);
        Assert.Equal(100.5, summary.MeanMicroseconds, precision: 3);
    }

    [Fact]
    public void FromTicks_OfNothing_IsAllZero()
    {
        Assert.Equal(default, LatencySummary.FromTicks(new long[4], 0));
    }

    [Fact]
    public void Recorder_HandsOutExactlyItsCapacity_ToConcurrentClaimers()
    {
        var recorder = new LatencyRecorder(1000);
        var claimed = new int[16];

        Parallel.For(0, claimed.Length, client =>
        {
            while (recorder.TryClaim(out int slot))
            {
                recorder.Succeeded(slot, 0, slot + 1);
                claimed[client]++;
            }
        });

        Assert.Equal(1000, claimed.Sum());
        Assert.Equal(1000, recorder.Claimed);
        Assert.False(recorder.TryClaim(out _));
        var summary = recorder.Summarize();
        Assert.Equal(1000, summary.Count);
        Assert.Equal(1000 * 1_000_000.0 / Stopwatch.Frequency, summary.MaxMicroseconds, precision: 6);
    }

    [Fact]
    public void Recorder_LeavesFailedOperationsOutOfTheLatencies_AndCountsThem()
    {
        var recorder = new LatencyRecorder(4);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(recorder.TryClaim(out int slot));
            if (i == 1)
            {
                recorder.Failed(slot);
            }
            else
            {
                recorder.Succeeded(slot, 0, Microseconds(10 * (i + 1)));
            }
        }

        var summary = recorder.Summarize();

        Assert.Equal(3, recorder.Claimed); // the fourth slot was never claimed
        Assert.Equal(1, recorder.Errors);
        Assert.Equal(2, summary.Count);
        Assert.Equal(30, summary.MaxMicroseconds, precision: 3);
    }

    [Fact]
    public void SmallSettings_Defaults_AreRedisBenchmarksShape_AndValid()
    {
        var settings = new SmallObjectSettings { Relay = "tcp://127.0.0.1:7070" };

        settings.Validate();
        Assert.Equal(16, settings.Clients);
        Assert.Equal(4096, settings.Size);
        Assert.StartsWith("bench/small/", settings.PutName(3), StringComparison.Ordinal);
        Assert.NotEqual(settings.PutName(3), new SmallObjectSettings { Relay = "tcp://127.0.0.1:7070" }.PutName(3)); // runs never share names
    }

    [Theory]
    [InlineData(0, 4096, 1000, 60, 1000, "--clients")]
    [InlineData(16, 0, 1000, 60, 1000, "--size")]
    [InlineData(16, 4096, 0, 60, 1000, "--ops")]
    [InlineData(16, 4096, 8, 60, 1000, "--ops (8) must be at least --clients (16)")]
    [InlineData(16, 4096, 1000, 0, 1000, "--seconds")]
    [InlineData(16, 4096, 1000, 7200, 1000, "--seconds")]
    [InlineData(16, 4096, 1000, 60, 0, "--keys")]
    [InlineData(16, 1 << 20, 1000, 60, 2000, "--keys times --size")]
    public void SmallSettings_OutOfRange_IsAUsageErrorNamingTheOption(int clients, int size, int ops, double seconds, int keys, string expected)
    {
        var settings = new SmallObjectSettings
        {
            Relay = "tcp://127.0.0.1:7070",
            Clients = clients,
            Size = size,
            Operations = ops,
            Duration = TimeSpan.FromSeconds(seconds),
            Keys = keys,
        };

        var ex = Assert.Throws<UsageException>(settings.Validate);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SmallSettings_OfAPutRun_IgnoreTheKeys()
    {
        new SmallObjectSettings { Relay = "tcp://127.0.0.1:7070", Operation = SmallObjectOperation.Put, Keys = 0 }.Validate();
    }

    [Theory]
    [InlineData(0, 100, 16, "--workers")]
    [InlineData(64, 10, 16, "--results (10) must be at least --workers (64)")]
    [InlineData(64, 10_000, 0, "--master-concurrency")]
    public void GatherSettings_OutOfRange_IsAUsageErrorNamingTheOption(int workers, int results, int concurrency, string expected)
    {
        var settings = new GatherSettings { Relay = "tcp://127.0.0.1:7070", Workers = workers, Results = results, MasterConcurrency = concurrency };

        var ex = Assert.Throws<UsageException>(settings.Validate);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GatherSettings_NameEveryResultOnce_UnderItsWorker()
    {
        var settings = new GatherSettings { Relay = "tcp://127.0.0.1:7070", Workers = 64, Results = 10_000 };

        var names = Enumerable.Range(0, settings.Results).Select(settings.ResultName).ToList();

        Assert.Equal(settings.Results, names.Distinct(StringComparer.Ordinal).Count());
        Assert.EndsWith("/w5/2", settings.ResultName(2 * 64 + 5), StringComparison.Ordinal);
    }
}
