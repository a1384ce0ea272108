using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary><c>omnistore ls</c> and <c>omnistore wait</c> (docs/watch.md).</summary>
public sealed class ListWaitTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Store => _dir.Sub("store");

    [Fact]
    public async Task Ls_ListsTheNamesUnderAPrefix_AsTextLongOrJsonLines_AndWaitReturnsForABoundName()
    {
        foreach (var name in new[] { "a/2", "a/1", "b" })
        {
            var put = await CliRunner.RunAsync(["put", name, "-", "--store", Store], Store, stdin: [1, 2, 3]);
            Assert.True(put.ExitCode == 0, put.ToString());
        }

        var text = await CliRunner.RunAsync(Store, "ls", "a/", "--store", Store);
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Equal("a/1\na/2\n", text.Output);

        var all = await CliRunner.RunAsync(Store, "ls", "--long", "--store", Store);
        Assert.Equal(3, all.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("v1", all.Output, StringComparison.Ordinal);

        var json = await CliRunner.RunAsync(Store, "ls", "a/", "--json", "--store", Store);
        var lines = json.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal(("a/1", 3L), (first.RootElement.GetProperty("name").GetString(), first.RootElement.GetProperty("length").GetInt64()));

        var wait = await CliRunner.RunAsync(Store, "wait", "b", "--store", Store);
        Assert.True(wait.ExitCode == 0, wait.ToString());
        var late = await CliRunner.RunAsync(Store, "wait", "never", "--timeout", "300ms", "--store", Store);
        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), late.ExitCode);
        Assert.Contains("was not bound within 0.3s", late.ToString(), StringComparison.Ordinal);
        var bad = await CliRunner.RunAsync(Store, "wait", "x", "--timeout", "soon", "--store", Store);
        Assert.Equal(ExitCode.Usage, bad.ExitCode);
    }

    [Fact]
    public async Task Wait_ThroughARelay_ReturnsWhenTheMasterPuts_AndLsCachedListsWhatTheRelayHolds()
    {
        string data = _dir.Sub("client-data");
        await using var root = await DaemonProcess.StartAsync(data, ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--open-relays"]);
        await using var relay = await DaemonProcess.StartAsync(data, ["--listen", "tcp://127.0.0.1:0", "--parent", root.Address, "--site", "site-a", "--cache-size", "128M", "--data-dir", _dir.Sub("relay")]);

        var waiting = CliRunner.RunAsync(["wait", "job/done", "--relay", relay.Address, "--timeout", "60s"], data);
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.False(waiting.IsCompleted);
        var put = await CliRunner.RunAsync(["put", "job/done", "-", "--relay", root.Address, "--quiet"], data, stdin: [7, 7]);
        Assert.True(put.ExitCode == 0, put.ToString());
        var waited = await waiting;
        Assert.True(waited.ExitCode == 0, waited.ToString());
        Assert.Contains("job/done: 2 bytes, version 1", waited.Output, StringComparison.Ordinal);

        await CliRunner.RunAsync(["put", "job/other", "-", "--relay", root.Address, "--quiet"], data, stdin: [8]);
        var everything = await CliRunner.RunAsync(data, "ls", "job/", "--relay", relay.Address);
        Assert.Equal("job/done\njob/other\n", everything.Output);
        var cached = await CliRunner.RunAsync(data, "ls", "job/", "--cached", "--relay", relay.Address);
        Assert.True(cached.ExitCode == 0, cached.ToString());
        Assert.Equal("job/done\n", cached.Output);
    }
}
