using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OmniStore.Cli.Tests.Infrastructure;
using OmniStore.Protocol;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// What peers say about themselves reaches the daemon's log, <c>/status</c> and <c>/metrics</c>
/// only checked and escaped, and a crowd of clients cannot make <c>/metrics</c> grow without bound.
/// The peers here speak the protocol by hand (docs/protocol.md), as an attacker would.
/// </summary>
public sealed class HostilePeerStatusTests : IDisposable
{
    private const int Clients = 300;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ThreeHundredClientsWithHugeForgedSites_AreRefused_AndMetricsStaySmall()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var root = await DaemonProcess.StartAsync(_dir.Sub("client"), "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--status-listen", "http://127.0.0.1:0", "--max-connections-per-address", "512", "--max-handshakes", "512");
        int port = new Uri(root.Address).Port;

        // A line break, a forged log line, a quote and a backslash for the metrics, terminal escapes.
        const string Forged = "x\r\n2026-01-01T00:00:00.000Z crit: forged\"} 1\n\\\u001b[2J\u0007";
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < Clients; i++)
            {
                var (socket, answer, _, _) = await HelloAsync(port, Forged + i + new string('A', 65_000), key: null, ct);
                sockets.Add(socket);
                Assert.True(answer == 4, $"client {i}: the node answered a HELLO with a forged site with frame type {answer}, not ERROR");
            }

            string metrics = await GetAsync(root, "/metrics", ct);
            Assert.True(metrics.Length < 64 * 1024, $"/metrics is {metrics.Length} bytes");
            PrometheusText.Parse(metrics);
            Assert.DoesNotContain("crit: forged", metrics, StringComparison.Ordinal);
            using var status = JsonDocument.Parse(await GetAsync(root, "/status", ct));
            Assert.Equal(0, status.RootElement.GetProperty("children").GetArrayLength());
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }

        await Task.Delay(200, ct); // the console logger writes on its own thread
        Assert.Equal(0, await root.TerminateAsync());
        foreach (char c in root.StandardError)
        {
            Assert.False(char.IsControl(c) && c != '\n', $"U+{(int)c:X4} in the daemon's log: {root.StandardError[..Math.Min(2000, root.StandardError.Length)]}");
        }

        Assert.DoesNotContain("crit: forged", root.StandardError.Split('\n').Select(l => l.Length > 40 ? l[..40] : l), StringComparer.Ordinal);
    }

    [Fact]
    public async Task ThreeHundredClientsWithTheLongestValidSites_KeepMetricsBounded_AndStatusListsThemAll()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var root = await DaemonProcess.StartAsync(_dir.Sub("client"), "--listen", "tcp://127.0.0.1:0", "--site", "root", "--data-dir", _dir.Sub("root"), "--status-listen", "http://127.0.0.1:0", "--max-connections-per-address", "512", "--max-handshakes", "512");
        int port = new Uri(root.Address).Port;
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < Clients; i++)
            {
                using var key = NodeIdentity.Create();
                var (socket, answer, hello, answerPayload) = await HelloAsync(port, $"{i:D4}" + new string('s', 60), key, ct);
                sockets.Add(socket);
                Assert.True(answer == 1, $"client {i}: the node answered a valid HELLO with frame type {answer}");
                await SendFrameAsync(socket, 2, Handshake.SignAuth(key, hello, answerPayload, [], []), ct); // AUTH without a secret
                Assert.Equal(3, await ReadFrameTypeAsync(socket, ct)); // READY
            }

            string metrics = await GetAsync(root, "/metrics", ct);
            var parsed = PrometheusText.Parse(metrics);
            Assert.Equal(Clients, parsed.Get("omnistore_children"));
            Assert.True(metrics.Length < 64 * 1024, $"/metrics is {metrics.Length} bytes with {Clients} clients");

            using var status = JsonDocument.Parse(await GetAsync(root, "/status", ct));
            Assert.Equal(Clients, status.RootElement.GetProperty("children").GetArrayLength());
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("bell\u0007")]
    [InlineData("an-overly-long-site-name-that-goes-on-and-on-past-sixty-four-bytes")]
    public async Task ABadSiteOption_IsAUsageError(string site)
    {
        var result = await CliRunner.RunAsync(["relay", "--listen", "tcp://127.0.0.1:0", "--site", site, "--data-dir", _dir.Sub("x")], _dir.Sub("client"));
        Assert.Equal(ExitCode.Usage, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.Contains("--site", line, StringComparison.Ordinal);
        Assert.False(line.Any(char.IsControl), line);
    }

    /// <summary>
    /// Connects and sends a client's HELLO with <paramref name="site"/>, naming the id of <paramref name="key"/>
    /// (a random id without one); returns the type of the node's answer, the HELLO sent and the answer's payload.
    /// </summary>
    private static async Task<(Socket Socket, int Answer, byte[] Hello, byte[] AnswerPayload)> HelloAsync(int port, string site, NodeIdentity? key, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync("127.0.0.1", port, ct).AsTask().WaitAsync(Timeout, ct);
            var siteBytes = Encoding.UTF8.GetBytes(site);
            var hello = new byte[2 + 2 + 16 + 1 + 1 + 32 + 1 + 2 + siteBytes.Length];
            BinaryPrimitives.WriteUInt16LittleEndian(hello, 2); // protocol version 2..2
            BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(2), 2);
            if (key is null)
            {
                RandomNumberGenerator.Fill(hello.AsSpan(4, 16));
            }
            else
            {
                key.Id.Write(hello.AsSpan(4));
            }

            hello[20] = 1; // client
            hello[21] = 0; // no secret
            RandomNumberGenerator.Fill(hello.AsSpan(22, 32));
            hello[54] = 0; // no proof
            BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(55), (ushort)siteBytes.Length);
            siteBytes.CopyTo(hello, 57);
            await SendFrameAsync(socket, 1, hello, ct);
            var (type, payload) = await ReadFrameAsync(socket, ct);
            return (socket, type, hello, payload);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task SendFrameAsync(Socket socket, byte type, byte[] payload, CancellationToken ct)
    {
        var frame = new byte[12 + payload.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, 8 + payload.Length);
        frame[4] = type;
        frame[5] = 1; // END
        payload.CopyTo(frame, 12);
        await socket.SendAsync(frame, SocketFlags.None, ct).AsTask().WaitAsync(Timeout, ct);
    }

    /// <summary>Reads one frame and returns its type; -1 if the node closed the connection first.</summary>
    private static async Task<int> ReadFrameTypeAsync(Socket socket, CancellationToken ct) => (await ReadFrameAsync(socket, ct)).Type;

    /// <summary>Reads one frame: its type (-1 if the node closed the connection first) and payload.</summary>
    private static async Task<(int Type, byte[] Payload)> ReadFrameAsync(Socket socket, CancellationToken ct)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        var header = new byte[12];
        try
        {
            await stream.ReadExactlyAsync(header, ct).AsTask().WaitAsync(Timeout, ct);
        }
        catch (EndOfStreamException)
        {
            return (-1, []);
        }

        var payload = new byte[BinaryPrimitives.ReadInt32LittleEndian(header) - 8];
        await stream.ReadExactlyAsync(payload, ct).AsTask().WaitAsync(Timeout, ct);
        return (header[4], payload);
    }

    private static async Task<string> GetAsync(DaemonProcess node, string path, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = Timeout };
        using var response = await http.GetAsync(new Uri(new Uri(node.StatusUrl!), path), ct);
        Assert.True(response.IsSuccessStatusCode, response.ToString());
        return await response.Content.ReadAsStringAsync(ct);
    }
}
