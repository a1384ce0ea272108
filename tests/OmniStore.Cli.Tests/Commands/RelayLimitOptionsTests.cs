using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>The relay's limits on what one child may make it ask its parent are checked when the command line is parsed.</summary>
public sealed class RelayLimitOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("--child-upstream-limit", "0")]
    [InlineData("--child-miss-rate", "0")]
    [InlineData("--child-miss-burst", "-1")]
    [InlineData("--child-miss-rate", "many")]
    public async Task ABadLimit_IsAUsageErrorNamingTheOption(string option, string value)
    {
        var result = await CliRunner.RunAsync(["relay", "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("x"), option, value], _dir.Sub("client"));
        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains(option, result.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Sub("x")), "the daemon started despite the bad option");
    }

    [Fact]
    public async Task TheLimits_AreListedInTheHelpWithTheirDefaults()
    {
        var help = await CliRunner.RunAsync(["relay", "--help"], _dir.Sub("client"));
        Assert.Equal(0, help.ExitCode);
        foreach (string option in new[] { "--child-upstream-limit", "--child-miss-rate", "--child-miss-burst" })
        {
            Assert.Contains(option, help.Output, StringComparison.Ordinal);
        }

        Assert.Contains("[default: 16]", help.Output, StringComparison.Ordinal);
        Assert.Contains("[default: 100]", help.Output, StringComparison.Ordinal);
    }
}
