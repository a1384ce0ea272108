using System.Text;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>What a run of the CLI produced.</summary>
public sealed record CliResult(int ExitCode, byte[] StandardOutput, string StandardError)
{
    public string Output => Encoding.UTF8.GetString(StandardOutput);

    /// <summary>The lines of stderr, without the empty one after the last newline.</summary>
    public string[] ErrorLines => StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"exit {ExitCode}; stdout: {Output}; stderr: {StandardError}";
}
