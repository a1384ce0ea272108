using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

public sealed class ErrorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Store => _dir.Sub("store");

    [Fact]
    public async Task Get_OfAMissingName_WritesOneErrorLineAndNothingToStdout()
    {
        await CliRunner.RunAsync(["put", "present", "-", "--store", Store], Store, stdin: [1, 2]);

        var get = await CliRunner.RunAsync(Store, "get", "absent", "--store", Store);

        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), get.ExitCode);
        Assert.Empty(get.StandardOutput);
        string line = Assert.Single(get.ErrorLines);
        Assert.StartsWith("omnistore: error: ", line, StringComparison.Ordinal);
        Assert.Contains("'absent'", line, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> InvalidNames => new()
    {
        { "tab\there", "control characters" },
        { "new\nline", "control characters" },
        { "", "must not be empty" },
        { new string('n', 1025), "at most 1024" },
    };

    [Theory]
    [MemberData(nameof(InvalidNames))]
    public async Task AnInvalidName_IsRefusedWithAClearMessage(string name, string expected)
    {
        foreach (var args in new[] { new[] { "get", name }, ["stat", name], ["rm", name], ["put", name, "-"], ["prefetch", name] })
        {
            var result = await CliRunner.RunAsync([.. args, "--store", Store], Store, stdin: [1]);

            Assert.Equal(ExitCode.Of(OmniStoreError.InvalidName), result.ExitCode);
            Assert.Empty(result.StandardOutput);
            string line = Assert.Single(result.ErrorLines);
            Assert.StartsWith("omnistore: error: Invalid object name", line, StringComparison.Ordinal);
            Assert.Contains(expected, line, StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(Store), "an invalid name should be refused before the store is opened");
    }

    [Theory]
    [InlineData("--chunk-size", "1KB", "ambiguous")]
    [InlineData("--chunk-size", "32K", "out of range")]
    [InlineData("--chunk-size", "lots", "not a size")]
    public async Task ABadSize_IsAUsageErrorOnOneLine(string option, string value, string expected)
    {
        var put = await CliRunner.RunAsync(["put", "x", "-", option, value, "--store", Store], Store, stdin: [1]);

        Assert.Equal(ExitCode.Usage, put.ExitCode);
        string line = Assert.Single(put.ErrorLines);
        Assert.StartsWith("omnistore: error: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("get", "x", "-o", "")]
    [InlineData("put", "x", "")]
    [InlineData("stat", "x", "--store", "")]
    public async Task AnEmptyPath_IsAUsageError(params string[] args)
    {
        var result = await CliRunner.RunAsync(args, Store);

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains("must not be empty", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnknownCommand_IsAUsageError()
    {
        var result = await CliRunner.RunAsync(Store, "frobnicate");

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.StartsWith("omnistore: error: ", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_ListsTheCommandsAndDocumentsTheExitCodes()
    {
        var help = await CliRunner.RunAsync(Store, "--help");

        Assert.Equal(0, help.ExitCode);
        foreach (var command in new[] { "put", "get", "stat", "rm", "prefetch", "status", "relay", "demo" })
        {
            Assert.Contains($"  {command} ", help.Output, StringComparison.Ordinal);
        }

        Assert.Contains("omnistore [command] [options]", help.Output, StringComparison.Ordinal);
        Assert.Contains($"  {ExitCode.Of(OmniStoreError.NotFound)}   NotFound", help.Output, StringComparison.Ordinal);
        Assert.Contains($"  {ExitCode.Of(OmniStoreError.InvalidName)}   InvalidName", help.Output, StringComparison.Ordinal);
    }
}
