using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore ca init|issue|revoke</c> as docs/security.md has an operator run them: the files
/// they write, with private keys only their owner reads, what they print, and their refusals.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // key files and their modes
public sealed class CaTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Task<CliResult> RunAsync(params string[] args) => CliRunner.RunAsync(_dir.Sub("data"), args);

    [Fact]
    public async Task InitIssueRevoke_WriteTheFilesAndSayWhatTheyDid()
    {
        string ca = _dir.Sub("ca");
        var init = await RunAsync("ca", "init", "--dir", ca, "--name", "tree-1");
        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.Contains("CA 'tree-1' in ", init.Output, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(ca, "ca.key")));

        string relay = Path.Combine(_dir.Path, "relay-a");
        var issued = await RunAsync("ca", "issue", "--dir", ca, "--role", "relay", "--name", "relay-a", "--host", "198.18.0.2", "--out", relay);
        Assert.True(issued.ExitCode == 0, issued.ToString());
        Assert.Matches(@"relay-a\.pem and .*relay-a\.key \(relay\), serial [0-9A-F]{32}, valid until \d{4}-\d\d-\d\d", issued.Output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(relay + ".key"));
        Assert.Contains("-----BEGIN CERTIFICATE-----", await File.ReadAllTextAsync(relay + ".pem", TestContext.Current.CancellationToken), StringComparison.Ordinal);

        string worker = Path.Combine(_dir.Path, "worker-1");
        var client = await RunAsync("ca", "issue", "--dir", ca, "--role", "client", "--name", "worker-1", "--write", "results/", "--read", "inputs/", "--out", worker);
        Assert.True(client.ExitCode == 0, client.ToString());
        Assert.Contains("(client: writes results/, reads inputs/)", client.Output, StringComparison.Ordinal);

        var again = await RunAsync("ca", "issue", "--dir", ca, "--role", "client", "--name", "worker-1", "--out", worker);
        Assert.Equal(ExitCode.Of(OmniStoreError.InvalidArgument), again.ExitCode);
        Assert.Contains("exists; remove it or give --out another prefix", again.StandardError, StringComparison.Ordinal);

        var revoked = await RunAsync("ca", "revoke", "--dir", ca, "--name", "relay-a");
        Assert.True(revoked.ExitCode == 0, revoked.ToString());
        Assert.Matches(@"revoked [0-9A-F]{32}; .*ca\.crl is number 2 \(1 revoked\)", revoked.Output);

        var twice = await RunAsync("ca", "revoke", "--dir", ca, "--name", "relay-a");
        Assert.Contains("already revoked", twice.Output, StringComparison.Ordinal);

        var nobody = await RunAsync("ca", "revoke", "--dir", ca, "--name", "nobody");
        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), nobody.ExitCode);

        var both = await RunAsync("ca", "revoke", "--dir", ca);
        Assert.Equal(ExitCode.Usage, both.ExitCode);
        Assert.Contains("give --name or --serial", both.StandardError, StringComparison.Ordinal);

        if (File.Exists("/usr/bin/openssl"))
        {
            var verify = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("openssl", ["verify", "-CAfile", Path.Combine(ca, "ca.pem"), worker + ".pem"]) { RedirectStandardOutput = true })!;
            string output = await verify.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            await verify.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.True(verify.ExitCode == 0, output);
        }
    }

    [Fact]
    public async Task IssueWithoutACa_SaysHowToMakeOne()
    {
        var result = await RunAsync("ca", "issue", "--dir", _dir.Sub("none"), "--role", "client", "--name", "w");
        Assert.Equal(ExitCode.Of(OmniStoreError.InvalidArgument), result.ExitCode);
        Assert.Contains("make one with `omnistore ca init --dir", result.StandardError, StringComparison.Ordinal);
    }
}
