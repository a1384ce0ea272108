using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Bench;

/// <summary>
/// <c>omnistore bench small</c> and <c>bench gather</c> end to end, against a root and a relay on
/// loopback: the counts they report add up, nothing fails, and the bounds hold. Nothing here
/// asserts a speed.
/// </summary>
public sealed class BenchSmallTests : IDisposable
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(2);
    private readonly TempDirectory _dir = new("omnistore-bench-small");

    public void Dispose() => _dir.Dispose();

    private readonly List<DaemonProcess> _nodes = [];

    private string Data => _dir.Sub("client-data");

    private async Task<(DaemonProcess Root, DaemonProcess Relay)> StartTreeAsync()
    {
        string secret = _dir.Sub("relay.secret");
        File.WriteAllText(secret, Convert.ToBase64String(Guid.NewGuid().ToByteArray()));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var root = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--relay-secret-file", secret);
        try
        {
            var relay = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--parent", root.Address, "--site", "a", "--cache-size", "128M", "--data-dir", _dir.Sub("relay"), "--relay-secret-file", secret);
            _nodes.AddRange([root, relay]);
            return (root, relay);
        }
        catch
        {
            await root.DisposeAsync();
            throw;
        }
    }

    private async Task<JsonElement> RunJsonAsync(params string[] args)
    {
        var result = await CliRunner.RunAsync([.. args, "--json"], Data, timeout: RunTimeout);
        Assert.True(result.ExitCode == 0, $"{result}\n{string.Join('\n', _nodes.Select(n => $"node {n.Address}: {n.StandardError}"))}");
        return JsonDocument.Parse(result.Output).RootElement.Clone();
    }

    [Fact]
    public async Task SmallGet_ThroughARelay_DoesExactlyTheOperationsAsked_WithoutErrors()
    {
        var (root, relay) = await StartTreeAsync();
        await using var _ = root;
        await using var __ = relay;

        var run = await RunJsonAsync("bench", "small", "--relay", relay.Address, "--op", "get", "--clients", "4", "--keys", "20", "--size", "1000", "--ops", "200");

        Assert.Equal("get", run.GetProperty("operation").GetString());
        Assert.Equal(4, run.GetProperty("clients").GetInt32());
        Assert.Equal(1000, run.GetProperty("size").GetInt32());
        AssertCountsAddUp(run, 200);
    }

    [Fact]
    public async Task SmallPut_ThroughARelay_DoesExactlyTheOperationsAsked_WithoutErrors()
    {
        var (root, relay) = await StartTreeAsync();
        await using var _ = root;
        await using var __ = relay;

        var run = await RunJsonAsync("bench", "small", "--relay", relay.Address, "--op", "put", "--clients", "4", "--size", "4K", "--ops", "100");

        Assert.Equal("put", run.GetProperty("operation").GetString());
        Assert.Equal(4096, run.GetProperty("size").GetInt32());
        AssertCountsAddUp(run, 100);
    }

    private static void AssertCountsAddUp(JsonElement run, int operations)
    {
        Assert.Equal(operations, run.GetProperty("operations").GetInt32());
        Assert.Equal(0, run.GetProperty("errors").GetInt32());
        Assert.False(run.GetProperty("stoppedByTime").GetBoolean());
        Assert.True(run.GetProperty("seconds").GetDouble() > 0);
        double p50 = run.GetProperty("p50Us").GetDouble(), p99 = run.GetProperty("p99Us").GetDouble(), max = run.GetProperty("maxUs").GetDouble();
        Assert.True(p50 > 0 && p50 <= p99 && p99 <= max, $"percentiles out of order: {run}");
    }

    [Fact]
    public async Task Small_WithMoreOperationsThanTime_StopsAtTheTimeBound()
    {
        var (root, relay) = await StartTreeAsync();
        await using var _ = root;
        await using var __ = relay;

        var run = await RunJsonAsync("bench", "small", "--relay", relay.Address, "--op", "get", "--clients", "2", "--keys", "4", "--ops", "10000000", "--seconds", "0.5");

        Assert.True(run.GetProperty("stoppedByTime").GetBoolean(), run.ToString());
        Assert.InRange(run.GetProperty("operations").GetInt32(), 1, 10_000_000 - 1);
        Assert.Equal(0, run.GetProperty("errors").GetInt32());
    }

    [Fact]
    public async Task Gather_FromWorkersAtTheRelay_TheMasterAtTheRootGetsEveryResult()
    {
        var (root, relay) = await StartTreeAsync();
        await using var _ = root;
        await using var __ = relay;

        var run = await RunJsonAsync("bench", "gather", "--relay", relay.Address, "--master", root.Address, "--workers", "8", "--results", "100", "--size", "4K", "--master-concurrency", "4");

        Assert.Equal(0, run.GetProperty("errors").GetInt32());
        Assert.Equal(100, run.GetProperty("results").GetInt32());
        Assert.Equal(8, run.GetProperty("workers").GetInt32());
        double put = run.GetProperty("putSeconds").GetDouble(), gather = run.GetProperty("gatherSeconds").GetDouble();
        Assert.True(put > 0 && gather > 0);
        Assert.Equal(put + gather, run.GetProperty("totalSeconds").GetDouble(), tolerance: 1e-5);
    }

    [Theory]
    [InlineData("--op", "delete", "delete")]
    [InlineData("--clients", "0", "--clients must be between 1 and 1024")]
    [InlineData("--seconds", "0", "--seconds must be more than 0")]
    [InlineData("--size", "2M", "--size: 2M is out of range")]
    public async Task Small_WithABadArgument_IsOneUsageErrorLine(string option, string value, string expected)
    {
        var result = await CliRunner.RunAsync(["bench", "small", "--relay", "tcp://127.0.0.1:1", option, value], Data);

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.StartsWith("omnistore: error: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }
}
