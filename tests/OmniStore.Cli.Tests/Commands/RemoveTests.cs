using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

public sealed class RemoveTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Store => _dir.Sub("store");

    [Fact]
    public async Task Rm_UnbindsTheName_SoGetFails()
    {
        await CliRunner.RunAsync(["put", "doomed", "-", "--store", Store], Store, stdin: [1]);

        var rm = await CliRunner.RunAsync(Store, "rm", "doomed", "--store", Store);
        Assert.True(rm.ExitCode == 0, rm.ToString());
        Assert.Empty(rm.StandardError);

        var get = await CliRunner.RunAsync(Store, "get", "doomed", "--store", Store);
        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), get.ExitCode);
    }

    [Fact]
    public async Task Rm_OfAMissingName_FailsWithNotFound()
    {
        await CliRunner.RunAsync(["put", "other", "-", "--store", Store], Store, stdin: [1]);

        var rm = await CliRunner.RunAsync(Store, "rm", "never-put", "--store", Store);

        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), rm.ExitCode);
        string line = Assert.Single(rm.ErrorLines);
        Assert.StartsWith("omnistore: error: ", line, StringComparison.Ordinal);
        Assert.Contains("No object is bound to the name 'never-put'", line, StringComparison.Ordinal); // as get says it
    }

    [Fact]
    public async Task Rm_Twice_FailsTheSecondTime()
    {
        await CliRunner.RunAsync(["put", "once", "-", "--store", Store], Store, stdin: [1]);

        Assert.Equal(0, (await CliRunner.RunAsync(Store, "rm", "once", "--store", Store)).ExitCode);
        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), (await CliRunner.RunAsync(Store, "rm", "once", "--store", Store)).ExitCode);
    }
}
