using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary><c>omnistore put</c>'s conditions and time to live, and <c>stat</c>'s expiry (docs/api.md, "Publish").</summary>
public sealed class ConditionalPutTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Store => _dir.Sub("store");

    private Task<CliResult> PutAsync(byte[] data, params string[] options) =>
        CliRunner.RunAsync(["put", "job", "-", "--store", Store, .. options], Store, stdin: data);

    [Fact]
    public async Task IfNotExists_AndIfVersion_FailWithConflictsExitCode_WhenTheNameMovedOn()
    {
        Assert.Equal(0, (await PutAsync([1], "--if-not-exists")).ExitCode);
        var taken = await PutAsync([2], "--if-not-exists");
        Assert.Equal(ExitCode.Of(OmniStoreError.Conflict), taken.ExitCode);
        Assert.Contains("bound already", Assert.Single(taken.ErrorLines), StringComparison.Ordinal);

        var swapped = await PutAsync([3], "--if-version", "1");
        Assert.True(swapped.ExitCode == 0, swapped.ToString());
        Assert.Contains("version 2", swapped.Output, StringComparison.Ordinal);
        Assert.Equal(ExitCode.Of(OmniStoreError.Conflict), (await PutAsync([4], "--if-version", "1")).ExitCode);
        Assert.Equal(ExitCode.Of(OmniStoreError.InvalidArgument), (await PutAsync([4], "--if-version", "0")).ExitCode);
        Assert.Equal(ExitCode.Of(OmniStoreError.InvalidArgument), (await PutAsync([4], "--if-version", "2", "--if-not-exists")).ExitCode);
        Assert.Equal(new byte[] { 3 }, (await CliRunner.RunAsync(Store, "get", "job", "--store", Store)).StandardOutput);
    }

    [Fact]
    public async Task IfChanged_LeavesIdenticalContentAtItsVersion()
    {
        await PutAsync([5, 5]);
        var same = await PutAsync([5, 5], "--if-changed");
        Assert.True(same.ExitCode == 0, same.ToString());
        Assert.Contains("version 1", same.Output, StringComparison.Ordinal);
        Assert.Contains("version 2", (await PutAsync([5, 5])).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ttl_IsShownByPutAndStat_AndABadOneIsAUsageError()
    {
        var put = await PutAsync([7], "--ttl", "10m");
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.Contains(", expires ", put.Output, StringComparison.Ordinal);

        var stat = await CliRunner.RunAsync(Store, "stat", "job", "--store", Store);
        Assert.Contains("expires:     ", stat.Output, StringComparison.Ordinal);
        Assert.Contains("(in 00:09:", stat.Output, StringComparison.Ordinal);
        var json = await CliRunner.RunAsync(Store, "stat", "job", "--json", "--store", Store);
        using var document = JsonDocument.Parse(json.Output);
        var expires = DateTimeOffset.Parse(document.RootElement.GetProperty("expires").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(8), TimeSpan.FromMinutes(10));

        await PutAsync([8]);
        using var forever = JsonDocument.Parse((await CliRunner.RunAsync(Store, "stat", "job", "--json", "--store", Store)).Output);
        Assert.Equal(JsonValueKind.Null, forever.RootElement.GetProperty("expires").ValueKind);

        Assert.Equal(1, (await PutAsync([9], "--ttl", "-5s")).ExitCode);
        Assert.Equal(1, (await PutAsync([9], "--ttl", "0")).ExitCode);
    }

    [Fact]
    public async Task GetStatAndRm_OfAMissingName_SayTheSameThing()
    {
        var lines = new List<string>();
        foreach (var command in new[] { "get", "stat", "rm" })
        {
            var result = await CliRunner.RunAsync(Store, command, "absent", "--store", Store);
            Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), result.ExitCode);
            lines.Add(Assert.Single(result.ErrorLines));
        }

        Assert.All(lines, line => Assert.Equal("omnistore: error: No object is bound to the name 'absent'.", line));
    }
}
