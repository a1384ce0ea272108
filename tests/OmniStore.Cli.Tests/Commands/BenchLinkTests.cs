using System.Diagnostics;
using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore bench link</c> end to end on loopback: a server (<c>--listen ... --once --json</c>)
/// and a client for a second, over tcp and rudp. The client's bytes must be what the server says it
/// read, and both ends' CPU time must be there.
/// </summary>
public sealed class BenchLinkTests : IDisposable
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new("omnistore-bench-link");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("tcp", 1)]
    [InlineData("rudp", 1)]
    [InlineData("rudp", 2)]
    public async Task ClientAndServer_OverLoopback_AgreeOnTheBytes_AndReportGoodputAndCpu(string scheme, int parallel)
    {
        using var server = Process.Start(CliRunner.StartInfo(["bench", "link", "--listen", $"{scheme}://127.0.0.1:0", "--once", "--json"], _dir.Sub("data")))!;
        try
        {
            var stderr = server.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            string? first = await server.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            Assert.True(first is not null && first.StartsWith("listening on ", StringComparison.Ordinal), $"the server printed '{first}': {(server.HasExited ? await stderr : "")}");
            string address = first!["listening on ".Length..];
            Assert.StartsWith(scheme + "://", address, StringComparison.Ordinal);
            var rest = server.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);

            var client = await CliRunner.RunAsync(
                ["bench", "link", "--connect", address, "--seconds", "1", "--parallel", parallel.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json"],
                _dir.Sub("data"), timeout: RunTimeout);
            Assert.True(client.ExitCode == 0, client.ToString());

            using var json = JsonDocument.Parse(client.Output);
            var root = json.RootElement;
            Assert.Equal("link", root.GetProperty("operation").GetString());
            Assert.Equal(scheme, root.GetProperty("transport").GetString());
            Assert.Equal(parallel, root.GetProperty("connections").GetInt32());
            Assert.True(root.GetProperty("goodputMbps").GetDouble() > 0, client.Output);
            Assert.True(root.GetProperty("bytesMatch").GetBoolean(), client.Output);
            Assert.Equal(root.GetProperty("bytesSent").GetInt64(), root.GetProperty("bytes").GetInt64());
            Assert.True(root.GetProperty("cpuSeconds").GetDouble() > 0, client.Output);
            Assert.True(root.GetProperty("cpuSecondsPerGB").GetDouble() > 0, client.Output);
            Assert.True(root.GetProperty("serverCpuSeconds").GetDouble() >= 0, client.Output);
            Assert.True(root.TryGetProperty("serverCpuSecondsPerGB", out _), client.Output);
            double jain = root.GetProperty("jainIndex").GetDouble();
            Assert.InRange(jain, 1.0 / parallel - 1e-9, 1 + 1e-9);
            var flows = root.GetProperty("flows").EnumerateArray().ToArray();
            Assert.Equal(parallel, flows.Length);
            Assert.All(flows, flow => Assert.True(flow.GetProperty("goodputMbps").GetDouble() > 0, client.Output));
            Assert.Equal(scheme == "rudp", flows[0].TryGetProperty("transportStatistics", out _));
            if (scheme == "rudp")
            {
                var statistics = flows[0].GetProperty("transportStatistics");
                Assert.True(statistics.GetProperty("rttMs").GetDouble() > 0, client.Output);
                Assert.True(statistics.GetProperty("pathMtu").GetInt32() >= 1200, client.Output);
                Assert.False(string.IsNullOrEmpty(statistics.GetProperty("congestion").GetString()), client.Output);
                Assert.True(root.TryGetProperty("lossRatio", out _), client.Output);
            }

            // --once: the server ends once the run's connections have; one JSON line per connection.
            Assert.True(server.WaitForExit(TimeSpan.FromSeconds(30)), "the server did not exit after the run (--once)");
            Assert.True(server.ExitCode == 0, $"server exit {server.ExitCode}: {await stderr}");
            var lines = (await rest).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(parallel, lines.Length);
            long serverBytes = 0;
            foreach (string line in lines)
            {
                using var connection = JsonDocument.Parse(line);
                Assert.Equal("link-server", connection.RootElement.GetProperty("operation").GetString());
                Assert.True(connection.RootElement.GetProperty("cpuSeconds").GetDouble() >= 0, line);
                serverBytes += connection.RootElement.GetProperty("bytes").GetInt64();
            }

            Assert.Equal(root.GetProperty("bytes").GetInt64(), serverBytes);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("--listen tcp://127.0.0.1:0 --connect tcp://127.0.0.1:1")]
    [InlineData("--listen tcp://127.0.0.1:0 --seconds 3")]
    [InlineData("--connect tcp://127.0.0.1:1 --once")]
    [InlineData("--connect tcp://127.0.0.1:1 --seconds 3 --bytes 1M")]
    [InlineData("--connect tcp://127.0.0.1:1 --parallel 0")]
    [InlineData("--connect tcp://127.0.0.1:1 --seconds -1")]
    [InlineData("--connect tcp://127.0.0.1:1 --bytes lots")]
    [InlineData("--connect udp://127.0.0.1:1")]
    public async Task BadOptions_AreUsageErrors_InOneLine(string options)
    {
        string[] args = ["bench", "link", .. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
        var result = await CliRunner.RunAsync(args, _dir.Sub("data"), timeout: RunTimeout);
        Assert.True(result.ExitCode == ExitCode.Usage, result.ToString());
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
    }
}
