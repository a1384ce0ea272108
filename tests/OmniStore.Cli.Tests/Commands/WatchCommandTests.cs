using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary><c>omnistore watch</c> and <c>omnistore rm --prefix</c> (docs/watch.md).</summary>
public sealed class WatchCommandTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Watch_PrintsAJsonLinePerChange_UntilCtrlC_AndRmPrefixRemovesEveryNameUnderIt()
    {
        var ct = TestContext.Current.CancellationToken;
        string data = _dir.Sub("client-data");
        await using var root = await DaemonProcess.StartAsync(data, ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root")]);
        var put = await CliRunner.RunAsync(["put", "job/0", "-", "--relay", root.Address, "--quiet"], data, stdin: [1]);
        Assert.True(put.ExitCode == 0, put.ToString());

        using var watch = Process.Start(CliRunner.StartInfo(["watch", "job/", "--json", "--from", "0", "--relay", root.Address], data))!;
        try
        {
            var lines = new List<JsonElement>();
            async Task<JsonElement> NextAsync()
            {
                string? line = await watch.StandardOutput.ReadLineAsync(ct).AsTask().WaitAsync(Timeout, ct);
                if (line is null)
                {
                    Assert.Fail("watch ended: " + await watch.StandardError.ReadToEndAsync(ct).WaitAsync(Timeout, ct));
                }

                var element = JsonDocument.Parse(line!).RootElement; // not null: Assert.Fail threw
                lines.Add(element);
                return element;
            }

            var first = await NextAsync(); // from 0: the change made before the watch
            Assert.Equal(("bound", "job/0", 1L), (first.GetProperty("kind").GetString(), first.GetProperty("name").GetString(), first.GetProperty("length").GetInt64()));

            foreach (var name in new[] { "job/1", "other/1", "job/2" })
            {
                Assert.Equal(0, (await CliRunner.RunAsync(["put", name, "-", "--relay", root.Address, "--quiet"], data, stdin: [1, 2])).ExitCode);
            }

            var removed = await CliRunner.RunAsync(data, "rm", "--prefix", "job/", "--relay", root.Address);
            Assert.True(removed.ExitCode == 0, removed.ToString());
            Assert.Equal("removed 3 names\n", removed.Output);
            for (int i = 0; i < 5; i++)
            {
                await NextAsync();
            }

            Assert.Equal(
                ["bound job/0", "bound job/1", "bound job/2", "deleted job/0", "deleted job/1", "deleted job/2"],
                lines.Select(l => $"{l.GetProperty("kind").GetString()} {l.GetProperty("name").GetString()}"));
            var sequences = lines.Select(l => l.GetProperty("sequence").GetInt64()).ToList();
            Assert.Equal(sequences.Order(), sequences);
            Assert.Equal(sequences.Count, sequences.Distinct().Count());

            Signal("INT", watch.Id);
            await watch.WaitForExitAsync(ct).WaitAsync(Timeout, ct);
            Assert.Equal(0, watch.ExitCode);
        }
        finally
        {
            if (!watch.HasExited)
            {
                watch.Kill(entireProcessTree: true);
            }
        }

        var none = await CliRunner.RunAsync(data, "ls", "job/", "--relay", root.Address);
        Assert.Equal("", none.Output);
        var both = await CliRunner.RunAsync(data, "rm", "x", "--prefix", "job/", "--relay", root.Address);
        Assert.Equal(ExitCode.Usage, both.ExitCode);
        var badFrom = await CliRunner.RunAsync(data, "watch", "job/", "--from", "-3", "--relay", root.Address);
        Assert.Equal(ExitCode.Usage, badFrom.ExitCode);
    }

    private static void Signal(string signal, int processId)
    {
        using var kill = Process.Start("kill", [$"-{signal}", processId.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }
}
