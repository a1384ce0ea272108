using System.Net;
using System.Net.Sockets;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore relay</c> under a low descriptor limit, flooded with plain connects: it refuses
/// what it cannot hold (or, past its descriptors, keeps retrying its accepts), says so on
/// <c>/readyz</c> and in its log, and serves clients again once the flood is gone.
/// </summary>
public sealed class ConnectionExhaustionTests : IDisposable
{
    private const int DescriptorLimit = 400;
    private const int FloodConnections = 800;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    private Task<DaemonProcess> StartRootAsync(int soft, int hard, params string[] args) =>
        DaemonProcess.StartWithDescriptorLimitAsync(soft, hard, Data, ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub($"root-{Guid.NewGuid():N}"), "--status-listen", "http://127.0.0.1:0", .. args]);

    [Fact]
    public async Task AConnectionLimitAboveTheDescriptors_IsLoweredToThem_SoAFloodLeavesTheNodeAliveAndServing()
    {
        // With the limit as configured, this flood ran the process out of descriptors; then the
        // runtime, which maps the code it compiles through a descriptor (W^X), aborted the daemon
        // ("Out of memory.") in about one run of four.
        var ct = TestContext.Current.CancellationToken;
        await using var root = await StartRootAsync(DescriptorLimit, DescriptorLimit, "--max-connections", "5000", "--max-connections-per-address", "5000", "--max-handshakes", "5000");
        Assert.Contains("The limit of 5000 connections is more than the descriptors allow", root.StandardError, StringComparison.Ordinal);
        using var status = StatusClient();
        await ExpectReadinessAsync(status, root, HttpStatusCode.OK, null, ct);

        var flood = await FloodAsync(Port(root), FloodConnections, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"], ct);
        try
        {
            await ExpectReadinessAsync(status, root, HttpStatusCode.ServiceUnavailable, "at its limit of", ct);
        }
        finally
        {
            flood.ForEach(socket => socket.Dispose());
        }

        await ExpectReadinessAsync(status, root, HttpStatusCode.OK, null, ct);
        await PutAndGetAsync(root);
        Assert.DoesNotContain("Accepting a connection failed", root.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, await root.TerminateAsync());
    }

    [Fact]
    public async Task WhenItsDescriptorsRunOutAnyway_TheNodeKeepsAccepting_AndServesOnceTheyAreBack()
    {
        // Descriptors can still run out under the node (another part of the process, a limit
        // lowered from outside): accept then fails with EMFILE, which used to end the accept loop
        // for good. The runtime's W^X double mapping is turned off here because it needs
        // descriptors too and aborts without one; what is tested is the accept loop.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "lowers a running daemon's descriptor limit with prlimit(1)");
        var ct = TestContext.Current.CancellationToken;
        var environment = new Dictionary<string, string?> { ["DOTNET_EnableWriteXorExecute"] = "0" };
        await using var root = await DaemonProcess.StartWithDescriptorLimitAsync(DescriptorLimit, DescriptorLimit, Data, environment,
            ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--status-listen", "http://127.0.0.1:0"]);
        using var status = StatusClient();
        await ExpectReadinessAsync(status, root, HttpStatusCode.OK, null, ct);

        int open = Directory.GetFiles($"/proc/{root.ProcessId}/fd").Length;
        await SetDescriptorLimitAsync(root, open + 20, ct);
        var flood = await FloodAsync(Port(root), 100, ["127.0.0.1"], ct, atLeast: 10);
        try
        {
            // The status listener answers on the connection it already has; a new one would need a descriptor too.
            await ExpectReadinessAsync(status, root, HttpStatusCode.ServiceUnavailable, "open files", ct);
        }
        finally
        {
            flood.ForEach(socket => socket.Dispose());
            await SetDescriptorLimitAsync(root, DescriptorLimit, ct);
        }

        // No connection comes in now: the node must find out by itself that accepting works again.
        await ExpectReadinessAsync(status, root, HttpStatusCode.OK, null, ct);
        await PutAndGetAsync(root);
        Assert.Contains("Accepting a connection failed", root.StandardError, StringComparison.Ordinal);
        Assert.Contains("open files", root.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, await root.TerminateAsync());
    }

    [Fact]
    public async Task WithItsDefaultLimits_TheNodeRefusesAFloodBeforeItRunsOutOfDescriptors()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var root = await StartRootAsync(DescriptorLimit, DescriptorLimit);
        using var status = StatusClient();
        await ExpectReadinessAsync(status, root, HttpStatusCode.OK, null, ct);

        var flood = await FloodAsync(Port(root), FloodConnections, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"], ct);
        try
        {
            await ExpectReadinessAsync(status, root, HttpStatusCode.ServiceUnavailable, "handshakes in progress", ct);
            string metrics = await status.GetStringAsync(new Uri(new Uri(root.StatusUrl!), "/metrics"), ct);
            var parsed = PrometheusText.Parse(metrics);
            Assert.True(parsed.Get("omnistore_connections_refused_total", ("reason", "handshakes")) > 0, metrics);
            Assert.Equal(1, parsed.Get("omnistore_refusing_connections"));
        }
        finally
        {
            flood.ForEach(socket => socket.Dispose());
        }

        await ExpectReadinessAsync(status, root, HttpStatusCode.OK, null, ct);
        await PutAndGetAsync(root);
        Assert.DoesNotContain("Accepting a connection failed", root.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("more than the descriptors allow", root.StandardError, StringComparison.Ordinal);
        Assert.Contains("before its handshake: Refused: too many connections", root.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, await root.TerminateAsync());
    }

    [Fact]
    public async Task TheDaemon_RunsWithItsSoftDescriptorLimitRaisedToTheHardOne_AndLogsIt()
    {
        // The .NET runtime raises the soft limit itself on Linux; the daemon does too (for runtimes
        // that do not) and says what it runs with.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "reads /proc/PID/limits");
        await using var root = await StartRootAsync(300, DescriptorLimit);
        string limits = await File.ReadAllTextAsync($"/proc/{root.ProcessId}/limits", TestContext.Current.CancellationToken);
        var line = limits.Split('\n').Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        Assert.Equal(["Max", "open", "files", "400", "400", "files"], line.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Open file descriptor limit: 400", root.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, await root.TerminateAsync());
    }

    private static int Port(DaemonProcess node) => new Uri(node.Address).Port;

    /// <summary>One HTTP connection to the status listener, kept open between requests.</summary>
    private static HttpClient StatusClient() =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = 1, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) }) { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Polls <c>/readyz</c> until it answers <paramref name="expected"/> (with <paramref name="text"/> in the body, if given).</summary>
    private static async Task ExpectReadinessAsync(HttpClient status, DaemonProcess node, HttpStatusCode expected, string? text, CancellationToken ct)
    {
        var url = new Uri(new Uri(node.StatusUrl!), "/readyz");
        var deadline = DateTime.UtcNow + Timeout;
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            HttpResponseMessage response;
            try
            {
                response = await status.GetAsync(url, ct);
            }
            catch (HttpRequestException ex)
            {
                Assert.Fail($"/readyz failed: {ex.Message} ({ex.InnerException?.Message}); {node}");
                throw;
            }

            using var disposeResponse = response;
            last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}";
            if (response.StatusCode == expected && (text is null || last.Contains(text, StringComparison.Ordinal)))
            {
                return;
            }

            await Task.Delay(50, ct);
        }

        Assert.Fail($"/readyz did not answer {(int)expected} {text} within {Timeout}; last: {last}; {node}");
    }

    /// <summary>Opens <paramref name="count"/> plain TCP connections (no handshake), spread over <paramref name="sources"/>; returns those that connected.</summary>
    private static async Task<List<Socket>> FloodAsync(int port, int count, string[] sources, CancellationToken ct, int atLeast = DescriptorLimit / 2)
    {
        var target = new IPEndPoint(IPAddress.Loopback, port);
        var attempts = Enumerable.Range(0, count).Select(async i =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Parse(sources[i % sources.Length]), 0));
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(5)); // past a full backlog a SYN goes unanswered
                await socket.ConnectAsync(target, timeout.Token);
                return socket;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                socket.Dispose();
                return null;
            }
        });
        var sockets = (await Task.WhenAll(attempts)).OfType<Socket>().ToList();
        Assert.True(sockets.Count >= atLeast, $"only {sockets.Count} of {count} connects succeeded");
        return sockets;
    }

    /// <summary>Sets the running daemon's soft descriptor limit from outside (<c>prlimit</c>, util-linux).</summary>
    private static async Task SetDescriptorLimitAsync(DaemonProcess node, int limit, CancellationToken ct)
    {
        using var prlimit = System.Diagnostics.Process.Start("prlimit", ["--pid", node.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), $"--nofile={limit}:"]);
        await prlimit.WaitForExitAsync(ct);
        Assert.Equal(0, prlimit.ExitCode);
    }

    private async Task PutAndGetAsync(DaemonProcess node)
    {
        var data = new byte[100_000];
        new Random(7).NextBytes(data);
        var put = await CliRunner.RunAsync(["put", "after-the-flood", "-", "--relay", node.Address], Data, stdin: data);
        Assert.True(put.ExitCode == 0, $"{put}; {node}");
        var get = await CliRunner.RunAsync(Data, "get", "after-the-flood", "--relay", node.Address);
        Assert.True(get.ExitCode == 0, $"{get}; {node}");
        Assert.Equal(data, get.StandardOutput);
    }
}
