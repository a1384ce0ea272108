using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore secret new</c>: 32 random bytes as base64, in a file only its owner reads, that a
/// relay and a client then take as their <c>--secret-file</c>; an existing file is replaced only
/// with <c>--force</c>; a short secret is refused with how to make one.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes
public sealed class SecretCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Task<CliResult> RunAsync(params string[] args) => CliRunner.RunAsync(_dir.Sub("data"), args);

    [Fact]
    public async Task New_WritesThirtyTwoRandomBytes_OwnerOnly_AndRefusesToOverwrite()
    {
        string path = Path.Combine(_dir.Path, "tree.secret");
        var made = await RunAsync("secret", "new", path);
        Assert.True(made.ExitCode == 0, made.ToString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        string first = (await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken)).TrimEnd();
        Assert.Equal(32, Convert.FromBase64String(first).Length);
        Assert.Contains("--secret-file " + path, made.StandardError, StringComparison.Ordinal);

        var again = await RunAsync("secret", "new", path);
        Assert.Equal(ExitCode.Of(OmniStoreError.InvalidArgument), again.ExitCode);
        Assert.Contains("exists; give --force to replace it", again.StandardError, StringComparison.Ordinal);
        Assert.Equal(first, (await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken)).TrimEnd());

        var forced = await RunAsync("secret", "new", path, "--force");
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.NotEqual(first, (await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken)).TrimEnd());

        var printed = await RunAsync("secret", "new");
        Assert.Equal(32, Convert.FromBase64String(printed.Output.Trim()).Length);
    }

    [Fact]
    public async Task AShortSecretFile_IsRefused_NamingTheCommandThatMakesOne()
    {
        string path = Path.Combine(_dir.Path, "short.secret");
        await File.WriteAllTextAsync(path, "s3cret\n", TestContext.Current.CancellationToken);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var result = await RunAsync("stat", "x", "--relay", "tcp://127.0.0.1:1", "--secret-file", path);
        Assert.Equal(ExitCode.Of(OmniStoreError.InvalidArgument), result.ExitCode);
        Assert.Contains("holds a 6-byte secret; a secret is at least 16 bytes", result.StandardError, StringComparison.Ordinal);
        Assert.Contains($"omnistore secret new {path} --force", result.StandardError, StringComparison.Ordinal);
    }
}
