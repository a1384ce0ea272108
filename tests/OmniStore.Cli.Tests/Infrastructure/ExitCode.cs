namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>The exit codes the CLI documents in its help: 1 usage, 2 I/O, 2 + error value for OmniStore errors.</summary>
public static class ExitCode
{
    public const int Usage = 1;
    public const int IoFailure = 2;

    public static int Of(OmniStoreError error) => 2 + (int)error;
}
