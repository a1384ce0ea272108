using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// <c>omnistore relay</c> daemons as child processes (a root and a relay on loopback, port 0), used
/// by the client commands with <c>--relay</c>, watched with <c>status</c> and <c>/metrics</c>, and
/// stopped with SIGTERM.
/// </summary>
public sealed class RelayTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.Sub("client-data");

    private static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>The relay secret of the tree a test starts: every root and relay gets it, unless the test says otherwise.</summary>
    private string TreeRelaySecret => _treeRelaySecret ??= SecretFile("tree-relay.secret", Convert.ToBase64String(RandomBytes(32, Environment.TickCount)));

    private string? _treeRelaySecret;

    private Task<DaemonProcess> StartRootAsync(params string[] args) =>
        DaemonProcess.StartAsync(Data, ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub($"root-{Guid.NewGuid():N}"), "--relay-secret-file", TreeRelaySecret, .. args]);

    private Task<DaemonProcess> StartRelayAsync(DaemonProcess parent, params string[] args) =>
        StartRelayAsync(parent, ["--relay-secret-file", TreeRelaySecret, .. args], null);

    private Task<DaemonProcess> StartRelayAsync(DaemonProcess parent, string[] args, IReadOnlyDictionary<string, string?>? environment) =>
        DaemonProcess.StartAsync(Data, environment, ["--listen", "tcp://127.0.0.1:0", "--parent", parent.Address, "--site", "site-a", "--cache-size", "128M", "--data-dir", _dir.Sub($"relay-{Guid.NewGuid():N}"), "--status-listen", "http://127.0.0.1:0", .. args]);

    private string SecretFile(string name, string content)
    {
        string path = _dir.Sub(name);
        File.WriteAllText(path, content);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return path;
    }

    private static async Task<JsonDocument> StatusJsonAsync(DaemonProcess node)
    {
        var status = await CliRunner.RunAsync(["status", "--relay", node.StatusUrl!, "--json"], "unused");
        Assert.True(status.ExitCode == 0, status.ToString());
        return JsonDocument.Parse(status.Output);
    }

    [Fact]
    public async Task PutAndGetThroughARelay_WriteThroughToTheRoot_AndStatusShowsTheParentLinkBytes()
    {
        var data = RandomBytes((3 << 20) + 123, 1);
        await using var root = await StartRootAsync();
        await using var relay = await StartRelayAsync(root);

        // Quiet: on a slow machine the put would print a progress line, and stderr must hold no warning.
        var put = await CliRunner.RunAsync(["put", "shared/input", "-", "--relay", relay.Address, "--quiet"], Data, stdin: data);
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.Contains("4 chunks, version 1", put.Output, StringComparison.Ordinal);
        Assert.Empty(put.StandardError);

        var get = await CliRunner.RunAsync(Data, "get", "shared/input", "--relay", relay.Address);
        Assert.True(get.ExitCode == 0, get.StandardError);
        Assert.Equal(data, get.StandardOutput);

        // Write-through: the root has it too.
        var stat = await CliRunner.RunAsync(Data, "stat", "shared/input", "--json", "--relay", root.Address);
        Assert.True(stat.ExitCode == 0, stat.ToString());
        using (var info = JsonDocument.Parse(stat.Output))
        {
            Assert.Equal(data.Length, info.RootElement.GetProperty("length").GetInt64());
        }

        using var status = await StatusJsonAsync(relay);
        var node = status.RootElement;
        Assert.Equal("relay", node.GetProperty("role").GetString());
        Assert.Equal("site-a", node.GetProperty("site").GetString());
        Assert.Equal(relay.Address, node.GetProperty("listen").GetString());
        var parent = node.GetProperty("parent");
        Assert.Equal(root.Address, parent.GetProperty("address").GetString());
        Assert.True(parent.GetProperty("connected").GetBoolean());
        var traffic = parent.GetProperty("traffic");
        long payloadOut = traffic.GetProperty("payloadOut").GetInt64();
        Assert.InRange(payloadOut, data.Length, (long)(data.Length * 1.01) + 4096);
        Assert.True(traffic.GetProperty("wireOut").GetInt64() > payloadOut, status.RootElement.ToString());
        Assert.True(traffic.GetProperty("wireIn").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Array, node.GetProperty("children").ValueKind);
        Assert.Equal("cache", node.GetProperty("store").GetProperty("mode").GetString());
        Assert.True(node.GetProperty("store").GetProperty("usedBytes").GetInt64() >= data.Length);

        var text = await CliRunner.RunAsync(["status", "--relay", relay.StatusUrl!], "unused");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains($"parent:   {root.Address}, connected", text.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientCommands_UseOmnistoreRelay_AndMoveToTheFallbackWhenTheRelayIsDown()
    {
        await using var root = await StartRootAsync();
        var environment = new Dictionary<string, string?> { ["OMNISTORE_RELAY"] = root.Address };
        var put = await CliRunner.RunAsync(["put", "from-env", "-"], Data, stdin: [1, 2, 3], environment: environment);
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.False(Directory.Exists(Data), "with OMNISTORE_RELAY set, put must not open the embedded store");

        var get = await CliRunner.RunAsync(["get", "from-env", "--relay", $"tcp://127.0.0.1:{ClosedPort()}", "--fallback", root.Address], Data);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal([1, 2, 3], get.StandardOutput);

        var rm = await CliRunner.RunAsync(["rm", "from-env"], Data, environment: environment);
        Assert.True(rm.ExitCode == 0, rm.ToString());
        var gone = await CliRunner.RunAsync(["stat", "from-env"], Data, environment: environment);
        Assert.Equal(ExitCode.Of(OmniStoreError.NotFound), gone.ExitCode);
    }

    [Fact]
    public async Task Metrics_ArePrometheusText_WithTheParentLinkCounters()
    {
        await using var root = await StartRootAsync();
        await using var relay = await StartRelayAsync(root);
        var put = await CliRunner.RunAsync(["put", "m", "-", "--relay", relay.Address], Data, stdin: RandomBytes(100_000, 2));
        Assert.True(put.ExitCode == 0, put.ToString());

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.GetAsync(new Uri(new Uri(relay.StatusUrl!), "/metrics"), TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, response.ToString());
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(response.Content.Headers.ContentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        var metrics = PrometheusText.Parse(text);
        Assert.True(metrics.Get("omnistore_link_bytes_total", ("link", "parent"), ("direction", "out"), ("kind", "wire")) > 100_000, text);
        Assert.True(metrics.Get("omnistore_link_bytes_total", ("link", "parent"), ("direction", "out"), ("kind", "payload")) >= 100_000, text);
        Assert.Equal(1, metrics.Get("omnistore_parent_connected"));
        Assert.Equal(128L << 20, metrics.Get("omnistore_store_capacity_bytes"));
        Assert.True(metrics.Get("omnistore_store_used_bytes") >= 100_000, text);
        foreach (string name in new[] { "omnistore_cache_hits_total", "omnistore_cache_misses_total", "omnistore_evicted_bytes_total", "omnistore_inflight_requests", "omnistore_upstream_chunk_fetches_total", "omnistore_coalesced_chunk_requests_total", "omnistore_children" })
        {
            Assert.True(metrics.Has(name), $"{name} is missing from {text}");
        }
    }

    [Fact]
    public async Task Sigterm_StopsTheDaemonWithExitCode0_AndTheRootKeepsItsData()
    {
        string directory = _dir.Sub("durable-root");
        var data = RandomBytes(2_500_000, 3);
        await using (var root = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--data-dir", directory))
        {
            var put = await CliRunner.RunAsync(["put", "kept", "-", "--relay", root.Address], Data, stdin: data);
            Assert.True(put.ExitCode == 0, put.ToString());

            var started = DateTime.UtcNow;
            Assert.Equal(0, await root.TerminateAsync());
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), $"the idle daemon took {DateTime.UtcNow - started} to stop");
            Assert.Contains("SIGTERM received", root.StandardError, StringComparison.Ordinal);
            Assert.Contains("Stopped", root.StandardError, StringComparison.Ordinal);
        }

        await using var again = await DaemonProcess.StartAsync(Data, "--listen", "tcp://127.0.0.1:0", "--data-dir", directory);
        var get = await CliRunner.RunAsync(Data, "get", "kept", "--relay", again.Address);
        Assert.True(get.ExitCode == 0, get.StandardError);
        Assert.Equal(data, get.StandardOutput);
        Assert.Equal(0, await again.TerminateAsync());
    }

    [Fact]
    public async Task Prefetch_StagesTheObjectAtTheRelay_WhichServesItWhileTheRootIsDown()
    {
        var data = RandomBytes((2 << 20) + 5, 4);
        await using var root = await StartRootAsync();
        await using var relay = await StartRelayAsync(root);
        var put = await CliRunner.RunAsync(["put", "staged", "-", "--relay", root.Address], Data, stdin: data);
        Assert.True(put.ExitCode == 0, put.ToString());

        var prefetch = await CliRunner.RunAsync(Data, "prefetch", "staged", "--relay", relay.Address);
        Assert.True(prefetch.ExitCode == 0, prefetch.ToString());
        Assert.Contains("'staged' is at " + relay.Address, prefetch.Output, StringComparison.Ordinal);
        using (var status = await StatusJsonAsync(relay))
        {
            Assert.Equal(3, status.RootElement.GetProperty("upstreamChunkFetches").GetInt64());
            Assert.True(status.RootElement.GetProperty("parent").GetProperty("traffic").GetProperty("payloadIn").GetInt64() >= data.Length);
        }

        Assert.Equal(0, await root.TerminateAsync());

        var get = await CliRunner.RunAsync(Data, "get", "staged", "--relay", relay.Address);
        Assert.True(get.ExitCode == 0, get.StandardError);
        Assert.Equal(data, get.StandardOutput);

        var miss = await CliRunner.RunAsync(Data, "get", "never-staged", "--relay", relay.Address);
        Assert.Equal(ExitCode.Of(OmniStoreError.Unavailable), miss.ExitCode);
        Assert.Single(miss.ErrorLines);

        using var down = await StatusJsonAsync(relay);
        Assert.False(down.RootElement.GetProperty("parent").GetProperty("connected").GetBoolean());
    }

    [Fact]
    public async Task PutBroadcast_PushesTheObjectToTheRelayBeforeAnyWorkerAsks()
    {
        var data = RandomBytes(3 << 20, 5);
        await using var root = await StartRootAsync();
        await using var relay = await StartRelayAsync(root);

        var put = await CliRunner.RunAsync(["put", "pushed", "-", "--broadcast", "--relay", root.Address], Data, stdin: data);
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.Contains("broadcast", put.Output, StringComparison.Ordinal);

        using var status = await StatusJsonAsync(relay);
        Assert.True(status.RootElement.GetProperty("store").GetProperty("usedBytes").GetInt64() >= data.Length, status.RootElement.ToString());
        Assert.True(status.RootElement.GetProperty("parent").GetProperty("traffic").GetProperty("payloadIn").GetInt64() >= data.Length);
        Assert.Equal(0, status.RootElement.GetProperty("upstreamChunkFetches").GetInt64());
    }

    [Fact]
    public async Task AWrongOrMissingSecret_FailsClientCommandsWithOneUnauthorizedLine()
    {
        string right = SecretFile("right.secret", "correct horse battery staple\n");
        string wrong = SecretFile("wrong.secret", "incorrect horse battery\n");
        await using var root = await StartRootAsync("--secret-file", right);

        foreach (var secretArgs in new[] { new[] { "--secret-file", wrong }, [] })
        {
            var stat = await CliRunner.RunAsync(["stat", "anything", "--relay", root.Address, .. secretArgs], Data);
            Assert.Equal(ExitCode.Of(OmniStoreError.Unauthorized), stat.ExitCode);
            Assert.Empty(stat.StandardOutput);
            string line = Assert.Single(stat.ErrorLines);
            Assert.StartsWith("omnistore: error: ", line, StringComparison.Ordinal);
            Assert.Contains("Unauthorized", line, StringComparison.Ordinal);
            Assert.Contains("needs the same --secret-file", line, StringComparison.Ordinal);
        }

        // The same secret without the trailing newline is the same secret.
        string same = SecretFile("same.secret", "correct horse battery staple");
        var put = await CliRunner.RunAsync(["put", "secret", "-", "--relay", root.Address, "--secret-file", same], Data, stdin: [7]);
        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.Empty(put.StandardError);

        // $OMNISTORE_SECRET_FILE is the default; --secret-file wins over it.
        var fromEnvironment = await CliRunner.RunAsync(["stat", "secret", "--relay", root.Address], Data, environment: new Dictionary<string, string?> { ["OMNISTORE_SECRET_FILE"] = right });
        Assert.True(fromEnvironment.ExitCode == 0, fromEnvironment.ToString());
        var overridden = await CliRunner.RunAsync(["stat", "secret", "--relay", root.Address, "--secret-file", wrong], Data, environment: new Dictionary<string, string?> { ["OMNISTORE_SECRET_FILE"] = right });
        Assert.Equal(ExitCode.Of(OmniStoreError.Unauthorized), overridden.ExitCode);
    }

    [Fact]
    public async Task ARelayWithTheWrongSecret_IsRefusedByItsParent()
    {
        const string Mismatch = "shared secret does not match";
        await using var root = await StartRootAsync("--secret-file", SecretFile("root.secret", "the first tree's secret"));
        await using var relay = await StartRelayAsync(root, "--secret-file", SecretFile("relay.secret", "the second tree's secret"));

        using var status = await StatusJsonAsync(relay);
        Assert.False(status.RootElement.GetProperty("parent").GetProperty("connected").GetBoolean());

        // Both sides say why (the console logger writes on its own thread: give it a moment).
        for (int i = 0; i < 50 && !(relay.StandardError.Contains(Mismatch, StringComparison.Ordinal) && root.StandardError.Contains(Mismatch, StringComparison.Ordinal)); i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.Contains(Mismatch, relay.StandardError, StringComparison.Ordinal);
        Assert.Contains(Mismatch, root.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARelayWithoutTheRelaySecret_IsRefusedByItsParent_AndBothSaySo()
    {
        const string Refusal = "this node accepts relays only with its relay secret, and the peer proved none";
        await using var root = await StartRootAsync();
        await using var relay = await StartRelayAsync(root, [], null);

        using var status = await StatusJsonAsync(relay);
        Assert.False(status.RootElement.GetProperty("parent").GetProperty("connected").GetBoolean());
        await WaitForBothAsync(root, relay, Refusal);
        Assert.Contains(Refusal, relay.StandardError, StringComparison.Ordinal);
        Assert.Contains(Refusal, root.StandardError, StringComparison.Ordinal);
        Assert.Contains("Accepting as relays: relays that prove the relay secret", root.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheRelaySecret_ComesFromTheEnvironmentByDefault_AndOpenRelaysNeedNone()
    {
        await using (var root = await StartRootAsync())
        await using (var relay = await StartRelayAsync(root, [], new Dictionary<string, string?> { ["OMNISTORE_RELAY_SECRET_FILE"] = TreeRelaySecret }))
        {
            await WaitForParentAsync(relay);
        }

        await using var open = await DaemonProcess.StartAsync(Data, ["--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("open-root"), "--open-relays"]);
        await using var anyRelay = await StartRelayAsync(open, [], null);
        await WaitForParentAsync(anyRelay);
        Assert.Contains("no relay secret: trusted networks only", open.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARelaySecretThatIsTheSharedSecret_IsRefusedBeforeTheNodeStarts()
    {
        string shared = SecretFile("shared.secret", "the same secret, twice");
        string relaySecret = SecretFile("same-relay.secret", "the same secret, twice\n");
        var result = await CliRunner.RunAsync(Data, "relay", "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("never"), "--secret-file", shared, "--relay-secret-file", relaySecret);

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains("holds the tree's shared secret", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Sub("never")));
    }

    private static async Task WaitForParentAsync(DaemonProcess relay)
    {
        bool connected = false;
        for (int i = 0; i < 50 && !connected; i++)
        {
            using var status = await StatusJsonAsync(relay);
            connected = status.RootElement.GetProperty("parent").GetProperty("connected").GetBoolean();
            if (!connected)
            {
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
        }

        Assert.True(connected, relay.StandardError);
    }

    private static async Task WaitForBothAsync(DaemonProcess one, DaemonProcess other, string text)
    {
        // The console logger writes on its own thread: give it a moment.
        for (int i = 0; i < 50 && !(one.StandardError.Contains(text, StringComparison.Ordinal) && other.StandardError.Contains(text, StringComparison.Ordinal)); i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task ARelayWithoutCacheSize_IsAUsageError()
    {
        var result = await CliRunner.RunAsync(Data, "relay", "--listen", "tcp://127.0.0.1:0", "--parent", "tcp://127.0.0.1:7070", "--data-dir", _dir.Sub("x"));

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.StartsWith("omnistore: error: ", line, StringComparison.Ordinal);
        Assert.Contains("needs --cache-size", line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Sub("x")));
    }

    [Fact]
    public async Task ARelayWithATooSmallCacheSize_IsAUsageError_NotACrash()
    {
        // The relay check read the option's value after its own parser had refused it, and the
        // process died with an unhandled exception (exit 134).
        var result = await CliRunner.RunAsync(Data, "relay", "--listen", "tcp://127.0.0.1:0", "--parent", "tcp://127.0.0.1:7070", "--cache-size", "64M", "--data-dir", _dir.Sub("x"));

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.Equal("omnistore: error: --cache-size: 64M is too small; a store needs at least 128.0 MiB.", line);
        Assert.False(Directory.Exists(_dir.Sub("x")));
    }

    [Theory]
    [InlineData("--listen", "127.0.0.1:7070", "not a node address")]
    [InlineData("--listen", "udp://127.0.0.1:7070", "not supported")]
    [InlineData("--status-listen", "tcp://127.0.0.1:0", "not an http:// address")]
    [InlineData("--status-listen", "http://127.0.0.1", "has no port")]
    [InlineData("--cache-size", "1M", "too small")]
    [InlineData("--update-timeout", "soon", "not a duration")]
    [InlineData("--late-relay-cooldown", "0s", "not a duration")]
    [InlineData("--max-late-relay-cooldown", "1s", "must be at least --late-relay-cooldown")]
    public async Task ABadRelayOption_IsAUsageErrorNamingIt(string option, string value, string expected)
    {
        string[] args = option == "--listen" ? ["relay", option, value] : ["relay", "--listen", "tcp://127.0.0.1:0", option, value];
        var result = await CliRunner.RunAsync(args, Data);

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.Contains(option, line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmptySecretFile_IsRefusedBeforeTheNodeStarts()
    {
        string empty = SecretFile("empty.secret", " \n");
        var relay = await CliRunner.RunAsync(Data, "relay", "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("never"), "--secret-file", empty);
        var client = await CliRunner.RunAsync(Data, "stat", "x", "--relay", "tcp://127.0.0.1:7070", "--secret-file", empty);

        foreach (var result in new[] { relay, client })
        {
            Assert.Equal(ExitCode.Of(OmniStoreError.InvalidArgument), result.ExitCode);
            Assert.Contains("is empty", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(_dir.Sub("never")));
    }

    [Fact]
    public async Task AWorldReadableSecretFile_GetsAWarning()
    {
        string path = SecretFile("open.secret", "a s3cret of 16 bytes or more");
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var result = await CliRunner.RunAsync(Data, "stat", "x", "--relay", $"tcp://127.0.0.1:{ClosedPort()}", "--secret-file", path);

        Assert.Equal(ExitCode.Of(OmniStoreError.Unavailable), result.ExitCode);
        Assert.Contains(result.ErrorLines, l => l.StartsWith("omnistore: warning: ", StringComparison.Ordinal) && l.Contains("other users", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Status_OfANodeAddress_IsAUsageErrorThatPointsToTheStatusListener()
    {
        var result = await CliRunner.RunAsync(Data, "status", "--relay", "tcp://127.0.0.1:7070");

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains("--status-listen", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RelayAndStore_TogetherAreAUsageError()
    {
        var result = await CliRunner.RunAsync(Data, "get", "x", "--relay", "tcp://127.0.0.1:7070", "--store", _dir.Sub("s"));

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Contains("exclude each other", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    /// <summary>A loopback port nothing listens on (it was free a moment ago).</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
