using System.Security.Cryptography;
using System.Text.Json;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>
/// A root and relays as <c>omnistore relay</c> processes on loopback, for tests that kill them with
/// SIGKILL and restart them on their directories; clients run in the test process (the library),
/// so a round costs no client process start. Every await here has a timeout.
/// </summary>
public sealed class CrashTree : IDisposable
{
    public static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public CrashTree(TempDirectory dir)
    {
        _dir = dir;
        RelaySecret = _dir.Sub("relay.secret");
        File.WriteAllText(RelaySecret, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(RelaySecret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    public string RelaySecret { get; }

    public string ClientData => _dir.Sub("client-data");

    /// <summary>The root on <paramref name="listen"/> (port 0 for a free one) with its store in <paramref name="directory"/>; no status listener (it costs a restart time).</summary>
    public Task<DaemonProcess> StartRootAsync(string directory, string listen = "tcp://127.0.0.1:0") =>
        DaemonProcess.StartAsync(ClientData, "--listen", listen, "--site", "root", "--data-dir", directory, "--relay-secret-file", RelaySecret);

    /// <summary>A relay below <paramref name="parent"/> with its cache in <paramref name="directory"/>; with a status listener if asked (it costs a start time).</summary>
    public Task<DaemonProcess> StartRelayAsync(DaemonProcess parent, string directory, bool withStatus, params string[] args) =>
        DaemonProcess.StartAsync(ClientData, ["--listen", "tcp://127.0.0.1:0", "--parent", parent.Address, "--site", "site-a", "--data-dir", directory, "--relay-secret-file", RelaySecret, .. (withStatus ? (string[])["--status-listen", "http://127.0.0.1:0"] : []), .. args]);

    /// <summary>A library client of the node at <paramref name="address"/>.</summary>
    public async Task<OmniStoreClient> ConnectAsync(string address, int chunkSize) =>
        await OmniStoreClient.ConnectAsync(address, new OmniStoreOptions { DataDirectory = ClientData, ChunkSize = chunkSize }).WaitAsync(OperationTimeout);

    /// <summary>The node's <c>/status</c>.</summary>
    public async Task<JsonElement> StatusAsync(DaemonProcess node)
    {
        string json = await _http.GetStringAsync(new Uri(new Uri(node.StatusUrl!), "/status")).WaitAsync(OperationTimeout);
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary>Waits (at most <paramref name="timeout"/>) until the relay's link to its parent is up.</summary>
    public async Task WaitForParentAsync(DaemonProcess relay, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = await StatusAsync(relay);
            if (status.GetProperty("parent").GetProperty("connected").GetBoolean())
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the relay did not reconnect to its parent within {timeout}: {status}");
            await Task.Delay(50);
        }
    }

    public static byte[] RandomBytes(int length, Random random)
    {
        var data = new byte[length];
        random.NextBytes(data);
        return data;
    }

    public static string Hash(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));

    public void Dispose() => _http.Dispose();
}
