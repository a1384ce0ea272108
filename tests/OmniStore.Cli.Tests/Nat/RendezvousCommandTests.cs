using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Nat;

/// <summary>
/// <c>omnistore rendezvous</c>, <c>relay --node-id</c> and the clients' <c>--rendezvous</c> as a user
/// runs them on one machine (docs/nat.md, "Running it"): the root is reached by name, and its status
/// and metrics say it is registered and how its NAT maps it.
/// </summary>
public sealed class RendezvousCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ARootRegisteredByName_IsReachedByName_AndItsStatusSaysSo()
    {
        string secret = _dir.Sub("tree.secret");
        var made = await CliRunner.RunAsync(["secret", "new", secret], "unused");
        Assert.True(made.ExitCode == 0, made.ToString());
        await using var rendezvous = await DaemonProcess.StartCommandAsync(_dir.Sub("unused"), "rendezvous", "--listen", "rudp://127.0.0.1:0", "--secret-file", secret);
        Assert.StartsWith("rudp://127.0.0.1:", rendezvous.Address, StringComparison.Ordinal);
        await using var root = await DaemonProcess.StartAsync(_dir.Sub("unused"), ["--listen", "rudp://127.0.0.1:0", "--node-id", "master", "--rendezvous", rendezvous.Address, "--secret-file", secret, "--data-dir", _dir.Sub("root"), "--status-listen", "http://127.0.0.1:0"]);

        // Registration takes a round trip after the start: the first client may come a moment early.
        CliResult put = null!;
        for (int attempt = 0; attempt < 50; attempt++)
        {
            put = await CliRunner.RunAsync(["put", "by/name", "-", "--relay", "rudp://master", "--rendezvous", rendezvous.Address, "--secret-file", secret, "--quiet"], _dir.Sub("client"), stdin: "hello by name"u8.ToArray());
            if (put.ExitCode == 0 || !put.StandardError.Contains("registered", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.True(put.ExitCode == 0, put.ToString());
        var get = await CliRunner.RunAsync(_dir.Sub("client"), "get", "by/name", "--relay", "rudp://master", "--rendezvous", rendezvous.Address, "--secret-file", secret);
        Assert.True(get.ExitCode == 0, get.StandardError);
        Assert.Equal("hello by name"u8.ToArray(), get.StandardOutput);

        var status = await CliRunner.RunAsync(["status", "--relay", root.StatusUrl!], "unused");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains($"nat:      rendezvous {rendezvous.Address}, registered as master, seen at 127.0.0.1:", status.Output, StringComparison.Ordinal);
        Assert.Contains("mapping none", status.Output, StringComparison.Ordinal);
        Assert.Contains("rendezvous: 0 names registered", status.Output, StringComparison.Ordinal); // the root's own rendezvous: nobody registered there

        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(new Uri(root.StatusUrl!), "/metrics"), TestContext.Current.CancellationToken);
        Assert.Contains("omnistore_nat_registered{name=\"master\",mapping=\"none\"} 1", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "relay", "--listen", "tcp://127.0.0.1:0", "--node-id", "master", "--rendezvous", "rudp://127.0.0.1:9" }, "rudp:// (or tls+rudp://) listen address")]
    [InlineData(new[] { "relay", "--listen", "rudp://127.0.0.1:0", "--node-id", "Master", "--rendezvous", "rudp://127.0.0.1:9" }, "--node-id")]
    [InlineData(new[] { "relay", "--listen", "rudp://127.0.0.1:0", "--rendezvous", "tcp://127.0.0.1:9" }, "--rendezvous: a rendezvous is a rudp://HOST:PORT")]
    [InlineData(new[] { "rendezvous", "--listen", "tcp://127.0.0.1:0" }, "--listen: a rendezvous listens on rudp://")]
    public async Task AMisspelledNatOption_IsAUsageError_NamingIt(string[] args, string expected)
    {
        var result = await CliRunner.RunAsync(args[0] == "relay" ? [.. args, "--data-dir", _dir.Sub("node")] : args, _dir.Sub("unused"));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(expected, result.StandardError, StringComparison.Ordinal);
    }
}
