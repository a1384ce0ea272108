using System.Net;
using System.Net.Sockets;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Operations;

/// <summary>
/// <c>/healthz</c>, <c>/readyz</c> and <c>omnistore status --check</c> (docs/operations.md, "Health
/// and readiness"): a node is alive while it serves; ready when its store is open and, for a
/// relay, its parent is connected, or was and is gone (it then serves its cache, by design).
/// </summary>
public sealed class HealthTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    private string Data => _dir.Sub("client-data");

    [Fact]
    public async Task ARoot_IsAliveAndReady_AndStatusCheckExitsZero()
    {
        await using var root = await StartRootAsync();

        var (healthCode, health) = await GetAsync(root, "/healthz");
        var (readyCode, ready) = await GetAsync(root, "/readyz");
        var check = await CliRunner.RunAsync(["status", "--relay", root.StatusUrl!, "--check"], Data);
        var status = await CliRunner.RunAsync(["status", "--relay", root.StatusUrl!], Data);
        var (_, metrics) = await GetAsync(root, "/metrics");

        Assert.Equal(HttpStatusCode.OK, healthCode);
        Assert.Equal("ok\n", health);
        Assert.Equal(HttpStatusCode.OK, readyCode);
        Assert.Equal("ready: root, store open\n", ready);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Equal("ready: root, store open\n", check.Output);
        Assert.Contains("\nready:    root, store open\n", status.Output, StringComparison.Ordinal);
        Assert.Contains("\nomnistore_ready 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("\nomnistore_requests_total ", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARelay_ThatNeverReachedItsParent_IsAliveButNotReady_AndStatusCheckExitsUnavailable()
    {
        int closedPort = ClosedPort();
        await using var relay = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--parent", $"tcp://127.0.0.1:{closedPort}", "--cache-size", "128M", "--data-dir", _dir.Sub("relay"), "--status-listen", "http://127.0.0.1:0");

        var (healthCode, _) = await GetAsync(relay, "/healthz");
        var (readyCode, ready) = await GetAsync(relay, "/readyz");
        var check = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!, "--check"], Data);

        Assert.Equal(HttpStatusCode.OK, healthCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyCode);
        Assert.StartsWith($"not ready: not connected to its parent tcp://127.0.0.1:{closedPort} since it started (", ready, StringComparison.Ordinal);
        Assert.EndsWith("): it knows no names yet\n", ready, StringComparison.Ordinal);
        Assert.Equal(ExitCode.Of(OmniStoreError.Unavailable), check.ExitCode);
        Assert.Equal(ready, check.Output);
    }

    [Fact]
    public async Task ARelay_ThatLostItsParent_StaysReady_ServingItsCache_UntilItIsBack()
    {
        await using var root = await StartRootAsync();
        await using var relay = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--parent", root.Address, "--cache-size", "128M", "--data-dir", _dir.Sub("relay"), "--status-listen", "http://127.0.0.1:0");
        await ExpectReadyAsync(relay, HttpStatusCode.OK, $"ready: relay, store open, parent {root.Address} connected\n");

        Assert.Equal(0, await root.TerminateAsync());

        await ExpectReadyAsync(relay, HttpStatusCode.OK, $"ready: relay, store open, parent {root.Address} unreachable (");
        var (_, ready) = await GetAsync(relay, "/readyz");
        Assert.EndsWith("): serving what it cached until the parent is back\n", ready, StringComparison.Ordinal);
        var check = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!, "--check"], Data);
        Assert.True(check.ExitCode == 0, check.ToString());
    }

    [Fact]
    public async Task StatusCheck_OfNothing_ExitsUnavailable_AndWithJson_IsAUsageError()
    {
        int closedPort = ClosedPort();

        var nothing = await CliRunner.RunAsync(["status", "--relay", $"http://127.0.0.1:{closedPort}", "--check"], Data);
        var both = await CliRunner.RunAsync(["status", "--relay", $"http://127.0.0.1:{closedPort}", "--check", "--json"], Data);

        Assert.Equal(ExitCode.Of(OmniStoreError.Unavailable), nothing.ExitCode);
        Assert.StartsWith($"omnistore: error: not ready: no answer at http://127.0.0.1:{closedPort}/readyz", Assert.Single(nothing.ErrorLines), StringComparison.Ordinal);
        Assert.Equal(ExitCode.Usage, both.ExitCode);
        Assert.Contains("--json and --check exclude each other", Assert.Single(both.ErrorLines), StringComparison.Ordinal);
    }

    private Task<DaemonProcess> StartRootAsync() =>
        DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--open-relays", "--data-dir", _dir.Sub("root"), "--status-listen", "http://127.0.0.1:0");

    private async Task<(HttpStatusCode Code, string Body)> GetAsync(DaemonProcess node, string path)
    {
        using var response = await _http.GetAsync(new Uri(new Uri(node.StatusUrl!), path), TestContext.Current.CancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>Polls <c>/readyz</c> until it answers <paramref name="code"/> with a body that starts with <paramref name="prefix"/>.</summary>
    private async Task ExpectReadyAsync(DaemonProcess node, HttpStatusCode code, string prefix)
    {
        var deadline = DateTime.UtcNow + Timeout;
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            var (answered, body) = await GetAsync(node, "/readyz");
            last = $"{(int)answered} {body}";
            if (answered == code && body.StartsWith(prefix, StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.Fail($"/readyz did not answer {(int)code} {prefix} within {Timeout}; last: {last}; {node}");
    }

    /// <summary>A loopback port nothing listens on (bound, then released).</summary>
    private static int ClosedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
