using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

public sealed class StatTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Store => _dir.Sub("store");

    [Fact]
    public async Task StatJson_IsOneObjectWithLengthChunkingVersionAndManifestId()
    {
        var data = new byte[(65536 * 2) + 1];
        await CliRunner.RunAsync(["put", "stat/me", "-", "--chunk-size", "64KiB", "--store", Store], Store, stdin: data);
        await CliRunner.RunAsync(["put", "stat/me", "-", "--chunk-size", "64KiB", "--store", Store], Store, stdin: data);

        var stat = await CliRunner.RunAsync(Store, "stat", "stat/me", "--json", "--store", Store);

        Assert.True(stat.ExitCode == 0, stat.ToString());
        Assert.Single(stat.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var json = JsonDocument.Parse(stat.Output);
        var root = json.RootElement;
        Assert.Equal("stat/me", root.GetProperty("name").GetString());
        Assert.Equal(data.Length, root.GetProperty("length").GetInt64());
        Assert.Equal(65536, root.GetProperty("chunkSize").GetInt32());
        Assert.Equal(3, root.GetProperty("chunkCount").GetInt32());
        Assert.Equal(2, root.GetProperty("version").GetInt64());
        Assert.Matches("^[0-9a-f]{32}$", root.GetProperty("manifestId").GetString());
    }

    [Fact]
    public async Task StatJson_ManifestIdIsTheSameForTheSameContent()
    {
        await CliRunner.RunAsync(["put", "one", "-", "--store", Store], Store, stdin: [9, 9, 9]);
        await CliRunner.RunAsync(["put", "two", "-", "--store", Store], Store, stdin: [9, 9, 9]);

        var one = await CliRunner.RunAsync(Store, "stat", "one", "--json", "--store", Store);
        var two = await CliRunner.RunAsync(Store, "stat", "two", "--json", "--store", Store);

        using var a = JsonDocument.Parse(one.Output);
        using var b = JsonDocument.Parse(two.Output);
        Assert.Equal(a.RootElement.GetProperty("manifestId").GetString(), b.RootElement.GetProperty("manifestId").GetString());
    }

    [Fact]
    public async Task Stat_PrintsTheLengthForPeople()
    {
        await CliRunner.RunAsync(["put", "text", "-", "--store", Store], Store, stdin: new byte[1500]);

        var stat = await CliRunner.RunAsync(Store, "stat", "text", "--store", Store);

        Assert.Equal(0, stat.ExitCode);
        Assert.Contains("length:      1500", stat.Output, StringComparison.Ordinal);
        Assert.Contains("version:     1", stat.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stat_OfAMissingName_FailsWithNotFound()
    {
        var stat = await CliRunner.RunAsync(Store, "stat", "nothing", "--json", "--store", Store);

        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), stat.ExitCode);
        Assert.Empty(stat.StandardOutput);
        Assert.Contains("No object is bound to the name 'nothing'", Assert.Single(stat.ErrorLines), StringComparison.Ordinal); // as get says it
    }
}
