using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OmniStore.Nat;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;
using OmniStore.Transport.Rudp;

namespace OmniStore.Tests.Nat;

/// <summary>
/// STUN (docs/nat.md): CRC-32 against zlib's (gzip's trailer), messages read as hostile, the
/// Binding client's retransmissions and what it ignores, and the client and a node's rudp port
/// against coturn, a STUN implementation someone else wrote: coturn's server and a node agree on
/// the mapped address, and coturn's client reads a node's answer.
/// </summary>
public sealed class StunTests
{
    private static readonly StunSchedule Fast = new(TimeSpan.FromMilliseconds(100), 4, 4);

    private static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Skips locally, fails in CI (where the test command installs it) when <paramref name="tool"/> is missing.</summary>
    private static void Require(string tool, string package)
    {
        if (File.Exists(tool))
        {
            return;
        }

        if (IsCi)
        {
            Assert.Fail($"{tool} is missing; CI=true, so it must be installed (apt-get install {package}).");
        }

        Assert.Skip($"{tool} is missing (apt-get install {package}); skipped outside CI.");
    }

    [Fact]
    public async Task Crc32_MatchesZlibs_AsGzipWritesIt()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8)); // the check value every CRC-32 catalogue gives
        Require("/usr/bin/gzip", "gzip");
        var ct = TestContext.Current.CancellationToken;
        foreach (int length in new[] { 0, 1, 3, 4096, 100_003 })
        {
            var data = TestData.Random(length, length + 1);
            var gzip = Process.Start(new ProcessStartInfo("gzip", ["-c"]) { RedirectStandardInput = true, RedirectStandardOutput = true })!;
            var writing = Task.Run(async () => { await gzip.StandardInput.BaseStream.WriteAsync(data, ct); gzip.StandardInput.Close(); }, ct);
            var output = new MemoryStream();
            await gzip.StandardOutput.BaseStream.CopyToAsync(output, ct);
            await writing;
            await gzip.WaitForExitAsync(ct);
            var trailer = output.ToArray()[^8..];
            Assert.Equal(BitConverter.ToUInt32(trailer, 0), Crc32.Compute(data)); // gzip's trailer: CRC-32, little-endian, then the length
        }
    }

    [Theory]
    [InlineData("192.0.2.1", 32853)]
    [InlineData("2001:db8:1234:5678:11:2233:4455:6677", 32853)]
    public void ABindingSuccess_RoundTrips_WithItsFingerprint(string address, int port)
    {
        var id = StunMessage.NewTransactionId();
        var bytes = new StunMessage(StunType.BindingSuccess, id) { Mapped = new IPEndPoint(IPAddress.Parse(address), port), Software = "test" }.Encode();
        var read = StunMessage.TryParse(bytes)!;
        Assert.Equal(StunType.BindingSuccess, read.Type);
        Assert.Equal(id, read.TransactionId);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), read.Mapped);
        Assert.True(read.Fingerprinted);
        Assert.Equal(0, bytes.Length % 4);

        for (int i = 0; i < bytes.Length; i++)
        {
            var altered = (byte[])bytes.Clone();
            altered[i] ^= 0x10;
            // Every byte is under the fingerprint, the lengths or the cookie: an altered message is
            // refused, or (the FINGERPRINT attribute's own type altered) read as one without a fingerprint.
            Assert.False(StunMessage.TryParse(altered)?.Fingerprinted ?? false, $"byte {i} altered, and the fingerprint still held");
        }
    }

    /// <summary>
    /// RFC 5769's sample IPv4 response (section 2.2): its XOR-MAPPED-ADDRESS reads as 192.0.2.1:32853
    /// and its FINGERPRINT checks; its MESSAGE-INTEGRITY is an attribute this build does not use.
    /// </summary>
    [Fact]
    public void Rfc5769_SampleIPv4Response_Reads()
    {
        byte[] response =
        [
            0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
            0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
            0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
            0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
            0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
        ];
        var read = StunMessage.TryParse(response)!;
        Assert.Equal(StunType.BindingSuccess, read.Type);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 32853), read.Mapped);
        Assert.True(read.Fingerprinted);
        Assert.Equal("test vector", read.Software);
        Assert.Equal([(ushort)0x0008], read.Unknown);
    }

    /// <summary>Random and mutated datagrams never throw and never read as a message with a wrong length.</summary>
    [Fact]
    public void HostileDatagrams_AreNotMessages_AndNeverThrow()
    {
        var random = new Random(11);
        var valid = new StunMessage(StunType.BindingRequest, StunMessage.NewTransactionId()) { Software = "x" }.Encode();
        for (int i = 0; i < 20_000; i++)
        {
            byte[] datagram;
            if (i % 2 == 0)
            {
                datagram = new byte[random.Next(0, 120)];
                random.NextBytes(datagram);
                if (datagram.Length >= 8)
                {
                    datagram[0] &= 0x03;
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(datagram.AsSpan(4), StunMessage.MagicCookie);
                }
            }
            else
            {
                datagram = (byte[])valid.Clone();
                datagram[random.Next(datagram.Length)] = (byte)random.Next(256);
                if (random.Next(4) == 0)
                {
                    datagram = datagram[..random.Next(datagram.Length)];
                }
            }

            _ = StunMessage.TryParse(datagram);
            _ = StunResponder.Answer(datagram, new IPEndPoint(IPAddress.Loopback, 1));
        }
    }

    [Fact]
    public void AnUnknownComprehensionRequiredAttribute_Gets420()
    {
        var request = new StunMessage(StunType.BindingRequest, StunMessage.NewTransactionId()).Encode();
        // Insert attribute 0x7777 (comprehension-required, unknown) before FINGERPRINT, and fix the length and fingerprint by re-encoding through the parser's rules.
        var withUnknown = request[..20].Concat(new byte[] { 0x77, 0x77, 0, 4, 1, 2, 3, 4 }).ToArray();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(withUnknown.AsSpan(2), (ushort)(withUnknown.Length - 20));
        var answer = StunMessage.TryParse(StunResponder.Answer(withUnknown, new IPEndPoint(IPAddress.Loopback, 5))!)!;
        Assert.Equal(StunType.BindingError, answer.Type);
        Assert.Equal(420, answer.Error!.Value.Code);
    }

    [Fact]
    public async Task TheClient_RetransmitsUntilAnswered_AndIgnoresOtherTransactionsAndSenders()
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        stranger.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        var serving = Task.Run(
            async () =>
            {
                var buffer = new byte[1500];
                for (int seen = 1; ; seen++)
                {
                    var received = await server.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), ct);
                    var request = StunMessage.TryParse(buffer.AsSpan(0, received.ReceivedBytes))!;
                    if (seen < 3)
                    {
                        continue; // the first two are lost
                    }

                    var from = (IPEndPoint)received.RemoteEndPoint;
                    await server.SendToAsync(new StunMessage(StunType.BindingSuccess, StunMessage.NewTransactionId()) { Mapped = new IPEndPoint(IPAddress.Parse("203.0.113.9"), 1) }.Encode(), from, ct);
                    await stranger.SendToAsync(new StunMessage(StunType.BindingSuccess, request.TransactionId) { Mapped = new IPEndPoint(IPAddress.Parse("203.0.113.8"), 2) }.Encode(), from, ct);
                    await server.SendToAsync(new StunMessage(StunType.BindingSuccess, request.TransactionId) { Mapped = new IPEndPoint(IPAddress.Parse("198.51.100.7"), 4242) }.Encode(), from, ct);
                    return seen;
                }
            },
            ct);

        var mapped = await StunClient.BindingAsync(client, (IPEndPoint)server.LocalEndPoint!, Fast, ct);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.7"), 4242), mapped);
        Assert.Equal(3, await serving);
    }

    [Fact]
    public async Task ASilentServer_IsUnavailable_AfterTheSchedule()
    {
        var ct = TestContext.Current.CancellationToken;
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<OmniStoreException>(() => StunClient.BindingAsync(client, (IPEndPoint)silent.LocalEndPoint!, Fast, ct));
        Assert.Equal(OmniStoreError.Unavailable, ex.Error);
        Assert.True(clock.Elapsed >= Fast.Total * 0.9, $"gave up after {clock.Elapsed}, before the schedule's {Fast.Total}");
        Assert.Equal(0.1 + 0.2 + 0.4 + 0.4, Fast.Total.TotalSeconds, 3);
    }

    [Fact]
    public async Task ANodesRudpPort_AndCoturn_AgreeOnTheMappedAddress()
    {
        Require("/usr/bin/turnserver", "coturn");
        var ct = TestContext.Current.CancellationToken;
        await using var coturn = await Coturn.StartAsync(ct);
        await using var node = RudpTransport.Instance.Listen(new NodeAddress("rudp", "127.0.0.1", 0));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        var fromCoturn = await StunClient.BindingAsync(client, coturn.EndPoint, Fast, ct);
        var fromNode = await StunClient.BindingAsync(client, new IPEndPoint(IPAddress.Loopback, node.Addresses[0].Port), Fast, ct);
        Assert.Equal(client.LocalEndPoint, fromCoturn);
        Assert.Equal(fromCoturn, fromNode);
    }

    [Fact]
    public async Task CoturnsClient_ReadsANodesAnswer()
    {
        Require("/usr/bin/turnutils_stunclient", "coturn");
        var ct = TestContext.Current.CancellationToken;
        await using var node = RudpTransport.Instance.Listen(new NodeAddress("rudp", "127.0.0.1", 0));
        var run = Process.Start(new ProcessStartInfo("turnutils_stunclient", ["-p", node.Addresses[0].Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "127.0.0.1"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string output = await run.StandardOutput.ReadToEndAsync(ct) + await run.StandardError.ReadToEndAsync(ct);
        await run.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        Assert.Matches(@"UDP reflexive addr: 127\.0\.0\.1:\d+", output);
    }

    /// <summary>coturn's <c>turnserver</c> as a STUN-only server on a loopback port, stopped when disposed.</summary>
    private sealed class Coturn : IAsyncDisposable
    {
        private readonly Process _process;

        private Coturn(Process process, IPEndPoint endPoint)
        {
            _process = process;
            EndPoint = endPoint;
        }

        public IPEndPoint EndPoint { get; }

        public static async Task<Coturn> StartAsync(CancellationToken ct)
        {
            int port;
            using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                port = ((IPEndPoint)probe.LocalEndPoint!).Port;
            }

            var process = Process.Start(new ProcessStartInfo("turnserver", ["-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls", "--listening-ip", "127.0.0.1", "--listening-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--log-file", "stdout", "--simple-log"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var coturn = new Coturn(process, new IPEndPoint(IPAddress.Loopback, port));

            // Ready when it answers.
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            for (int i = 0; ; i++)
            {
                try
                {
                    await StunClient.BindingAsync(client, coturn.EndPoint, Fast, ct);
                    return coturn;
                }
                catch (OmniStoreException) when (i < 20 && !process.HasExited)
                {
                    await Task.Delay(100, ct);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }
    }
}
