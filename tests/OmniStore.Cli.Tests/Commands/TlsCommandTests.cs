using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// The commands of docs/security.md's "Secure links" as an operator runs them: a root over
/// <c>tls+tcp</c>, a master and a worker with their certificates; what a certificate does not grant
/// is refused with one line that names the name and the right (and says nothing of secrets).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // key files and their modes
public sealed class TlsCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("data");

    private async Task IssueAsync(params string[] args)
    {
        var result = await CliRunner.RunAsync(["ca", "issue", "--dir", _dir.Sub("ca"), "--out", Path.Combine(_dir.Path, args[3]), .. args], Data);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    private string[] Tls(string name) =>
        ["--tls-cert", Path.Combine(_dir.Path, name + ".pem"), "--tls-key", Path.Combine(_dir.Path, name + ".key"), "--tls-ca", Path.Combine(_dir.Sub("ca"), "ca.pem")];

    [Fact]
    public async Task AWorkerCertificate_GetsWhatItMayRead_AndIsRefusedWhatItMayNotWrite_InOneLine()
    {
        var init = await CliRunner.RunAsync(["ca", "init", "--dir", _dir.Sub("ca")], Data);
        Assert.True(init.ExitCode == 0, init.ToString());
        await IssueAsync("--role", "root", "--name", "root", "--host", "127.0.0.1");
        await IssueAsync("--role", "client", "--name", "master", "--write", "inputs/");
        await IssueAsync("--role", "client", "--name", "worker", "--write", "results/", "--read", "inputs/");
        await using var root = await DaemonProcess.StartAsync(Data, ["--listen", "tls+tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), .. Tls("root")]);
        Assert.StartsWith("tls+tcp://", root.Address, StringComparison.Ordinal);

        string input = Path.Combine(_dir.Path, "input.bin");
        await File.WriteAllBytesAsync(input, new byte[100_000], TestContext.Current.CancellationToken);
        var put = await CliRunner.RunAsync(["put", "inputs/x", input, "--relay", root.Address, .. Tls("master")], Data);
        Assert.True(put.ExitCode == 0, put.ToString());

        var get = await CliRunner.RunAsync(["get", "inputs/x", "-o", Path.Combine(_dir.Path, "out.bin"), "--relay", root.Address, .. Tls("worker")], Data);
        Assert.True(get.ExitCode == 0, get.ToString());

        var refused = await CliRunner.RunAsync(["put", "inputs/y", input, "--relay", root.Address, .. Tls("worker")], Data);
        Assert.Equal(ExitCode.Of(OmniStoreError.Unauthorized), refused.ExitCode);
        string line = Assert.Single(refused.ErrorLines);
        Assert.Equal("omnistore: error: Certificate 'worker' may not write 'inputs/y' (it writes results/). (Unauthorized)", line);
    }
}
