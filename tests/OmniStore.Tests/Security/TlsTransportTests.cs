using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OmniStore.Security;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Tcp;
using OmniStore.Transport.Tls;

namespace OmniStore.Tests.Security;

/// <summary>
/// TLS over tcp and rudp (docs/tls.md): bytes cross whole, each end learns the other's certificate
/// name and rights, and the refusals: a certificate for another name, from another CA, revoked; an
/// eavesdropper on the path sees no byte of what was sent; an altered byte ends the connection and
/// is never delivered.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // key files and their modes
public sealed class TlsTransportTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _dir = new("omnistore-tls");
    private readonly TreeCa _ca;

    public TlsTransportTests()
    {
        _ca = TreeCa.Init(_dir.Sub("ca"), "tree", 30);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    public static TheoryData<string> Inner => new("tcp", "rudp");

    private static ITransport InnerTransport(string scheme) => scheme == "tcp" ? TcpTransport.Instance : RudpTransport.Instance;

    /// <summary>Credentials for a certificate <paramref name="name"/> of <paramref name="ca"/> (the test's CA by default).</summary>
    private TlsCredentials Credentials(string name, CertificateRole role, string[] hosts, TreeCa? ca = null, string[]? write = null)
    {
        ca ??= _ca;
        var issued = ca.Issue(name, role, hosts, write, null, 30);
        string directory = _dir.Sub($"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        string certificate = Path.Combine(directory, "node.pem");
        string key = Path.Combine(directory, "node.key");
        string caFile = Path.Combine(directory, "ca.pem");
        File.WriteAllText(certificate, issued.CertificatePem);
        File.WriteAllText(key, issued.KeyPem);
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(caFile, ca.Certificate.ExportCertificatePem());
        return TlsCredentials.Load(certificate, key, caFile);
    }

    /// <summary>A TLS listener that echoes every connection's bytes back, and the node's view of each connection.</summary>
    private static (IConnectionListener Listener, Task Accepting, List<TransportConnection> Accepted) Echo(string inner, TlsCredentials server, CancellationToken ct)
    {
        var listener = new TlsTransport(InnerTransport(inner), server).Listen(new NodeAddress("tls+" + inner, "127.0.0.1", 0));
        var accepted = new List<TransportConnection>();
        var accepting = Task.Run(
            async () =>
            {
                while (!ct.IsCancellationRequested)
                {
                    var result = await listener.AcceptAsync(ct);
                    if (result.Status == AcceptStatus.Stopped)
                    {
                        return;
                    }

                    if (result.Connection?.Open(new LinkCounters()) is not { } connection)
                    {
                        continue;
                    }

                    lock (accepted)
                    {
                        accepted.Add(connection);
                    }

                    _ = Task.Run(
                        async () =>
                        {
                            try
                            {
                                await connection.Input.CopyToAsync(connection.Output, ct);
                                await connection.CloseOutputAsync();
                            }
                            catch (Exception ex) when (ex is IOException or OmniStoreException or OperationCanceledException or InvalidOperationException)
                            {
                                // a refused or broken connection: what the test looks at is the client's side
                            }
                        },
                        ct);
                }
            },
            ct);
        return (listener, accepting, accepted);
    }

    /// <summary>Reads the connection's input into <paramref name="received"/> until it ends (or fails).</summary>
    private static Task ReadAllAsync(TransportConnection connection, MemoryStream received, CancellationToken ct) => Task.Run(
        async () =>
        {
            while (true)
            {
                var result = await connection.Input.ReadAsync(ct);
                foreach (var segment in result.Buffer)
                {
                    received.Write(segment.Span);
                }

                connection.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        },
        ct);

    private static async Task<byte[]> SendAndReadBackAsync(TransportConnection connection, byte[] data, CancellationToken ct)
    {
        var received = new MemoryStream();
        var reading = ReadAllAsync(connection, received, ct);
        await connection.Output.WriteAsync(data, ct);
        await connection.CloseOutputAsync();
        await reading.WaitAsync(Timeout, ct);
        return received.ToArray();
    }

    [Theory]
    [MemberData(nameof(Inner))]
    public async Task BytesCrossWhole_AndEachEndKnowsTheOthersCertificate(string inner)
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var client = Credentials("worker-1", CertificateRole.Client, [], write: ["results/"]);
        var (listener, accepting, accepted) = Echo(inner, server, ct);
        await using (listener)
        {
            var address = listener.Addresses[0];
            Assert.Equal("tls+" + inner, address.Scheme);
            await using var connection = await new TlsTransport(InnerTransport(inner), client).ConnectAsync(address, new LinkCounters(), ct).WaitAsync(Timeout, ct);
            Assert.Equal("tls+" + inner, connection.Path.Transport);

            var data = TestData.Random(3 << 20, 7);
            Assert.Equal(data, await SendAndReadBackAsync(connection, data, ct));

            var peer = connection.GetFeature<ITlsPeer>()!;
            Assert.Equal("node-a", peer.PeerName);
            Assert.Equal(CertificateRole.Relay, peer.PeerRights!.Role);
            Assert.Equal(server.Certificate.PublicKey.ExportSubjectPublicKeyInfo(), peer.PeerPublicKey);
            Assert.Contains("TLS 1.3", ((TlsConnection)connection).Protocol, StringComparison.Ordinal);

            var side = (ITlsPeer)accepted.Single();
            await side.Authenticated.WaitAsync(Timeout, ct);
            Assert.Equal("worker-1", side.PeerName);
            Assert.Equal(["results/"], side.PeerRights!.Write);
            Assert.True(connection.Counters.WireOut > data.Length, "the link counts wire bytes: the records' overhead and the handshake");
        }
    }

    /// <summary>
    /// Every connection runs a full TLS handshake, and each end knows the other's certificate on
    /// each: .NET on Linux resumes no session of a client that presents a certificate (docs/tls.md,
    /// "Session resumption"), which every OmniStore client does. What a handshake carries to the
    /// dialer is printed, for the record.
    /// </summary>
    [Theory]
    [MemberData(nameof(Inner))]
    public async Task EveryReconnect_ChecksThePeerAgain(string inner)
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        var (listener, _, accepted) = Echo(inner, server, ct);
        await using (listener)
        {
            var transport = new TlsTransport(InnerTransport(inner), client);
            var received = new List<long>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            const int Connections = 10;
            for (int i = 0; i < Connections; i++)
            {
                await using var connection = await transport.ConnectAsync(listener.Addresses[0], new LinkCounters(), ct).WaitAsync(Timeout, ct);
                try
                {
                    Assert.Equal([1, 2, 3], await SendAndReadBackAsync(connection, [1, 2, 3], ct));
                }
                catch (TimeoutException)
                {
                    TransportConnection[] sides;
                    lock (accepted)
                    {
                        sides = [.. accepted];
                    }

                    string serverSide = sides.Length > i ? $"server side: authenticated {((ITlsPeer)sides[i]).Authenticated.Status}, wire in {sides[i].Counters.WireIn} out {sides[i].Counters.WireOut}" : "server side: not accepted";
                    Assert.Fail($"connection {i}: no echo; accepted {sides.Length}; client wire in {connection.Counters.WireIn} out {connection.Counters.WireOut}; {serverSide}");
                }

                var peer = connection.GetFeature<ITlsPeer>()!;
                Assert.Equal("node-a", peer.PeerName);
                Assert.Equal(server.Certificate.SerialNumber, peer.PeerSerial);
                received.Add(connection.Counters.WireIn);
            }

            foreach (var side in accepted.Cast<ITlsPeer>())
            {
                await side.Authenticated.WaitAsync(Timeout, ct);
                Assert.Equal("worker-1", side.PeerName);
                Assert.Equal(client.Certificate.SerialNumber, side.PeerSerial);
            }

            TestContext.Current.TestOutputHelper?.WriteLine($"{inner}: {clock.Elapsed.TotalMilliseconds / Connections:F1} ms per connection and echo; bytes to the dialer: {string.Join(", ", received)}");
        }
    }

    /// <summary>Rights extensions a CA could have signed by mistake (or a stolen CA key on purpose): each is refused, never read as some right.</summary>
    public static TheoryData<string, byte[]> MalformedRights()
    {
        static byte[] Rights(Action<System.Formats.Asn1.AsnWriter> fill)
        {
            var writer = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
            using (writer.PushSequence())
            {
                fill(writer);
            }

            return writer.Encode();
        }

        static void List(System.Formats.Asn1.AsnWriter writer, int count, int length)
        {
            using (writer.PushSequence())
            {
                for (int i = 0; i < count; i++)
                {
                    writer.WriteCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String, new string('a', length));
                }
            }
        }

        return new()
        {
            { "malformed", [0x30, 0x08, 0x02, 0x01, 0x01, 0x02] },
            { "unknown version", Rights(w => { w.WriteInteger(2); w.WriteInteger(2); List(w, 0, 0); List(w, 0, 0); }) },
            { "unknown role", Rights(w => { w.WriteInteger(1); w.WriteInteger(9); List(w, 0, 0); List(w, 0, 0); }) },
            { "more than", Rights(w => { w.WriteInteger(1); w.WriteInteger(1); List(w, 65, 1); List(w, 0, 0); }) },
            { "more than", Rights(w => { w.WriteInteger(1); w.WriteInteger(1); List(w, 1, 1025); List(w, 0, 0); }) },
            { "malformed", Rights(w => { w.WriteInteger(1); w.WriteInteger(1); List(w, 0, 0); }) },
        };
    }

    /// <summary>
    /// A server whose certificate the tree CA signed but whose rights extension is malformed: the
    /// dialer refuses it with Unauthorized, saying the rights are bad. The server here is a bare
    /// SslStream: a node would not even start with such a certificate.
    /// </summary>
    [Theory]
    [MemberData(nameof(MalformedRights))]
    public async Task ACertificateWithMalformedRights_IsRefused(string expected, byte[] rights)
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=odd-relay", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var names = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension([new("1.3.6.1.5.5.7.3.1"), new("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509Extension(NodeRights.ExtensionOid, rights, critical: false));
        using var signed = request.Create(_ca.Certificate, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4, 5, 6, 7, 8]);
        using var certificate = signed.CopyWithPrivateKey(key);
        using var exported = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serving = Task.Run(
            async () =>
            {
                using var socket = await listener.AcceptTcpClientAsync(ct);
                await using var ssl = new System.Net.Security.SslStream(socket.GetStream());
                try
                {
                    await ssl.AuthenticateAsServerAsync(new System.Net.Security.SslServerAuthenticationOptions { ServerCertificate = exported }, ct);
                    _ = await ssl.ReadAsync(new byte[1], ct); // until the dialer hangs up
                }
                catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
                {
                    // the dialer refused it
                }
            },
            ct);
        var address = new NodeAddress("tls+tcp", "127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port);
        var ex = await Assert.ThrowsAsync<OmniStoreException>(() => new TlsTransport(TcpTransport.Instance, client).ConnectAsync(address, new LinkCounters(), ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.Unauthorized, ex.Error);
        Assert.Contains("certificate 'odd-relay': its OmniStore rights", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        await serving.WaitAsync(Timeout, ct);
    }

    /// <summary>
    /// Many short links at once, each a tiny echo then its end: every one ends. Ending a link with
    /// SslStream.ShutdownAsync while the read pump waited hung about one link in 150 here.
    /// </summary>
    [Theory]
    [MemberData(nameof(Inner))]
    public async Task ManyShortLinksAtOnce_EveryOneEnds(string inner)
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        var (listener, _, _) = Echo(inner, server, ct);
        await using (listener)
        {
            var transport = new TlsTransport(InnerTransport(inner), client);
            var stalled = new System.Collections.Concurrent.ConcurrentBag<string>();
            await Task.WhenAll(Enumerable.Range(0, 4).Select(task => Task.Run(
                async () =>
                {
                    for (int i = 0; i < (inner == "tcp" ? 75 : 25); i++)
                    {
                        await using var connection = await transport.ConnectAsync(listener.Addresses[0], new LinkCounters(), ct).WaitAsync(Timeout, ct);
                        try
                        {
                            Assert.Equal([1, 2, 3], await SendAndReadBackAsync(connection, [1, 2, 3], ct));
                        }
                        catch (TimeoutException)
                        {
                            stalled.Add($"link {task}.{i}: {connection.Counters.WireOut} bytes out, {connection.Counters.WireIn} in");
                        }
                    }
                },
                ct)));
            Assert.True(stalled.IsEmpty, "links that never ended: " + string.Join("; ", stalled));
        }
    }

    [Theory]
    [MemberData(nameof(Inner))]
    public async Task ACertificateForAnotherName_IsRefusedByTheDialer(string inner)
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-b", CertificateRole.Relay, []); // names node-b only, not 127.0.0.1
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        var (listener, _, _) = Echo(inner, server, ct);
        await using (listener)
        {
            var ex = await Assert.ThrowsAsync<OmniStoreException>(() => new TlsTransport(InnerTransport(inner), client).ConnectAsync(listener.Addresses[0], new LinkCounters(), ct).WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.Unauthorized, ex.Error);
            Assert.Contains("certificate 'node-b' is not for '127.0.0.1' (it names node-b)", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Inner))]
    public async Task ACertificateOfAnotherCa_IsRefused_ByTheDialerAndByTheAcceptor(string inner)
    {
        var ct = TestContext.Current.CancellationToken;
        using var stranger = TreeCa.Init(_dir.Sub("stranger"), "tree", 30); // same name, another key
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var fakeServer = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"], stranger);
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        using var fakeClient = Credentials("worker-1", CertificateRole.Client, [], stranger);

        var (fake, _, _) = Echo(inner, fakeServer, ct);
        await using (fake)
        {
            var ex = await Assert.ThrowsAsync<OmniStoreException>(() => new TlsTransport(InnerTransport(inner), client).ConnectAsync(fake.Addresses[0], new LinkCounters(), ct).WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.Unauthorized, ex.Error);
            Assert.Contains("is not one of this tree's", ex.Message, StringComparison.Ordinal);
        }

        var (real, _, accepted) = Echo(inner, server, ct);
        await using (real)
        {
            // TLS 1.3: the dialer's certificate goes in its last flight, so its handshake may end
            // before the acceptor refuses it; its first read then fails, and nothing is echoed.
            try
            {
                await using var connection = await new TlsTransport(InnerTransport(inner), fakeClient).ConnectAsync(real.Addresses[0], new LinkCounters(), ct).WaitAsync(Timeout, ct);
                await Assert.ThrowsAnyAsync<Exception>(() => SendAndReadBackAsync(connection, Encoding.ASCII.GetBytes("hello"), ct));
            }
            catch (OmniStoreException ex)
            {
                Assert.Equal(OmniStoreError.Unauthorized, ex.Error);
            }

            var side = (ITlsPeer)await WaitForAsync(accepted, ct);
            var refused = await Assert.ThrowsAsync<OmniStoreException>(() => side.Authenticated.WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.Unauthorized, refused.Error);
            Assert.Contains("is not one of this tree's", refused.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Inner))]
    public async Task ARevokedCertificate_IsRefused(string inner)
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        var (_, list) = _ca.Revoke("node-a", null);
        Assert.True(client.TryReplaceRevocations(list));
        Assert.False(client.TryReplaceRevocations(list)); // not newer

        var (listener, _, _) = Echo(inner, server, ct);
        await using (listener)
        {
            var ex = await Assert.ThrowsAsync<OmniStoreException>(() => new TlsTransport(InnerTransport(inner), client).ConnectAsync(listener.Addresses[0], new LinkCounters(), ct).WaitAsync(Timeout, ct));
            Assert.Equal(OmniStoreError.Unauthorized, ex.Error);
            Assert.Contains("certificate 'node-a'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("is revoked", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ATlsAddressWithoutCredentials_IsRefusedNamingTheOptions()
    {
        var ct = TestContext.Current.CancellationToken;
        var ex = await Assert.ThrowsAsync<OmniStoreException>(() => TransportRegistry.Default.ConnectAsync(new NodeAddress("tls+tcp", "127.0.0.1", 9), new LinkCounters(), ct));
        Assert.Equal(OmniStoreError.InvalidArgument, ex.Error);
        Assert.Contains("--tls-cert, --tls-key, --tls-ca", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEavesdropperOnThePath_SeesNoByteOfWhatWasSent()
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        var (listener, _, _) = Echo("tcp", server, ct);
        await using (listener)
        await using (var proxy = new TcpProxy(listener.Addresses[0].Port))
        {
            await using var connection = await new TlsTransport(TcpTransport.Instance, client).ConnectAsync(new NodeAddress("tls+tcp", "127.0.0.1", proxy.Port), new LinkCounters(), ct).WaitAsync(Timeout, ct);
            var marker = Encoding.ASCII.GetBytes("PUT inputs/secret-object-name 0123456789abcdef");
            var data = marker.Concat(TestData.Random(256 * 1024, 3)).Concat(marker).ToArray();
            Assert.Equal(data, await SendAndReadBackAsync(connection, data, ct));

            var captured = proxy.Captured();
            Assert.True(captured.Length > 2 * data.Length, $"the proxy carried {captured.Length} bytes");
            Assert.Equal(-1, captured.AsSpan().IndexOf(marker));
            Assert.Equal(-1, captured.AsSpan().IndexOf(data.AsSpan(marker.Length + 1000, 32)));
        }
    }

    [Fact]
    public async Task AnAlteredByte_EndsTheConnection_AndIsNeverDelivered()
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        var (listener, _, _) = Echo("tcp", server, ct);
        await using (listener)
        await using (var proxy = new TcpProxy(listener.Addresses[0].Port) { FlipTowardClientAt = 200_000 })
        {
            await using var connection = await new TlsTransport(TcpTransport.Instance, client).ConnectAsync(new NodeAddress("tls+tcp", "127.0.0.1", proxy.Port), new LinkCounters(), ct).WaitAsync(Timeout, ct);
            var data = TestData.Random(1 << 20, 5);
            var received = new MemoryStream();
            var reading = ReadAllAsync(connection, received, ct);
            try
            {
                await connection.Output.WriteAsync(data, ct);
            }
            catch (IOException)
            {
                // The echo reached the altered byte while this end still wrote: the link is dead both ways.
            }

            var failure = await Record.ExceptionAsync(() => reading.WaitAsync(Timeout, ct));
            Assert.IsType<IOException>(failure);
            Assert.True(received.Length < data.Length, $"{received.Length} bytes arrived");
            Assert.Equal(data.AsSpan(0, (int)received.Length).ToArray(), received.ToArray()); // what arrived is what was sent
        }
    }

    /// <summary>Over rudp: a party that reads every datagram sees neither the name nor the bytes sent.</summary>
    [Fact]
    public async Task AnEavesdropperOnARudpPath_SeesNoByteOfWhatWasSent()
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        var (listener, _, _) = Echo("rudp", server, ct);
        await using (listener)
        {
            using var shim = new OmniStore.Tests.Transport.Rudp.LossyUdpShim(new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port)) { Capture = true };
            await using var connection = await new TlsTransport(RudpTransport.Instance, client).ConnectAsync(new NodeAddress("tls+rudp", "127.0.0.1", shim.FrontEndPoint.Port), new LinkCounters(), ct).WaitAsync(Timeout, ct);
            var marker = Encoding.ASCII.GetBytes("PUT inputs/secret-object-name 0123456789abcdef");
            var data = marker.Concat(TestData.Random(256 * 1024, 3)).Concat(marker).ToArray();
            Assert.Equal(data, await SendAndReadBackAsync(connection, data, ct));

            var captured = shim.Captured();
            Assert.True(captured.Length > 2 * data.Length, $"the path carried {captured.Length} bytes");
            Assert.Equal(-1, captured.AsSpan().IndexOf(marker));
            Assert.Equal(-1, captured.AsSpan().IndexOf(data.AsSpan(marker.Length + 1000, 32)));
        }
    }

    /// <summary>Over rudp: a byte altered in one datagram ends the connection; what arrived before it is what was sent.</summary>
    [Fact]
    public async Task AnAlteredByteOnARudpPath_EndsTheConnection_AndIsNeverDelivered()
    {
        var ct = TestContext.Current.CancellationToken;
        using var server = Credentials("node-a", CertificateRole.Relay, ["127.0.0.1"]);
        using var client = Credentials("worker-1", CertificateRole.Client, []);
        var (listener, _, _) = Echo("rudp", server, ct);
        await using (listener)
        {
            using var shim = new OmniStore.Tests.Transport.Rudp.LossyUdpShim(new IPEndPoint(IPAddress.Loopback, listener.Addresses[0].Port)) { FlipLargeTowardClient = 100 };
            await using var connection = await new TlsTransport(RudpTransport.Instance, client).ConnectAsync(new NodeAddress("tls+rudp", "127.0.0.1", shim.FrontEndPoint.Port), new LinkCounters(), ct).WaitAsync(Timeout, ct);
            var data = TestData.Random(1 << 20, 5);
            var received = new MemoryStream();
            var reading = ReadAllAsync(connection, received, ct);
            try
            {
                await connection.Output.WriteAsync(data, ct);
            }
            catch (IOException)
            {
                // the link is dead both ways
            }

            var failure = await Record.ExceptionAsync(() => reading.WaitAsync(Timeout, ct));
            Assert.IsType<IOException>(failure);
            Assert.True(received.Length < data.Length, $"{received.Length} bytes arrived");
            Assert.Equal(data.AsSpan(0, (int)received.Length).ToArray(), received.ToArray());
        }
    }

    private static async Task<TransportConnection> WaitForAsync(List<TransportConnection> accepted, CancellationToken ct)
    {
        for (int i = 0; i < 200; i++)
        {
            lock (accepted)
            {
                if (accepted.Count > 0)
                {
                    return accepted[0];
                }
            }

            await Task.Delay(50, ct);
        }

        throw new TimeoutException("nothing was accepted");
    }
}
