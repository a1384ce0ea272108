using System.Text;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Security;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A tree whose links are TLS (docs/tls.md), over tcp and rudp: a node's id is its certificate's
/// key; a relay of another CA, a revoked relay and a client certificate posing as a relay are
/// refused by the parent; a client without a certificate is told what it needs; and on a relay's
/// link to the root a proxy sees neither the object's name nor its bytes. The whole tree suite
/// also runs over tls+tcp and tls+rudp (TreeCluster.Transports).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // key files and their modes
public sealed class TlsTreeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Transports => new("tls+tcp", "tls+rudp");

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ANodesIdIsItsCertificatesKey_AndATreeServesOverTls(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        var tls = cluster.Root.Options.Tls!;
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(tls.CertificateFile, ct));
        Assert.Equal(NodeId.FromPublicKey(certificate.PublicKey.ExportSubjectPublicKeyInfo()), cluster.Root.NodeId);
        Assert.False(File.Exists(Path.Combine(cluster.Root.Options.DataDirectory, NodeIdentityFile.FileName)), "a node with a certificate keeps no node.key");

        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("inputs/a", TestData.Random(3 << 20, 1), ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(cluster.Relays[0]);
        Assert.Equal(TestData.Random(3 << 20, 1), await worker.GetAsync("inputs/a", ct));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ARelayOfAnotherCa_CannotJoin_SoItsClientsGetUnavailable(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        await using var rogue = new TreeCluster { Transport = transport }; // its own CA
        var relay = await rogue.StartNodeAsync("rogue", cluster.Root.Address);
        Assert.Null(relay.Parent!.Current);
        await using var worker = await TreeCluster.ConnectAsync(relay);
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("x", ct).AsTask());
        Assert.Equal(OmniStoreError.Unavailable, error.Error);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task AClientCertificate_CannotActAsARelay(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var tls = cluster.IssueTls("posing-relay", CertificateRole.Client);
        await using var relay = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress(transport, "127.0.0.1", 0)],
            Parent = cluster.Root.Address,
            Site = "posing",
            DataDirectory = cluster.DirectoryOf($"posing-{Guid.NewGuid():N}"),
            CacheSize = 256L << 20,
            Tls = tls,
        }, ct);
        Assert.Null(relay.Parent!.Current);
        var refusal = await WaitForRefusalAsync(relay, ct);
        Assert.Contains("certificate 'posing-relay' is a client's: it cannot act as a relay", refusal, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ARevokedRelay_IsRefusedByItsParent(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster { Transport = transport };
        var relayTls = cluster.IssueTls("relay-x", CertificateRole.Relay);
        var rootTls = cluster.IssueTls("root", CertificateRole.Root);
        using (var ca = TreeCa.Open(Path.GetDirectoryName(rootTls.CaFile)!))
        {
            ca.Revoke("relay-x", null);
        }

        await using var root = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress(transport, "127.0.0.1", 0)],
            Site = "root",
            DataDirectory = cluster.DirectoryOf($"root-{Guid.NewGuid():N}"),
            Tls = rootTls with { RevocationListFile = Path.Combine(Path.GetDirectoryName(rootTls.CaFile)!, TreeCa.RevocationFile) },
        }, ct);
        await using var relay = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress(transport, "127.0.0.1", 0)],
            Parent = root.Address,
            Site = "relay-x",
            DataDirectory = cluster.DirectoryOf($"relay-{Guid.NewGuid():N}"),
            CacheSize = 256L << 20,
            Tls = relayTls,
        }, ct);
        Assert.Null(relay.Parent!.Current);
    }

    /// <summary>
    /// One push: the root's list file changes (an operator ran <c>ca revoke</c> and copied
    /// <c>ca.crl</c>), the root drops the revoked relay and sends the list down; the other relay
    /// keeps it and sends it to its client, which from then on refuses the revoked relay when it
    /// fails over to it. A relay started later gets the list from its parent when it joins.
    /// </summary>
    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ARevokedRelay_IsDroppedByItsParent_AndRefusedByClients_WithinOnePush(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster { Transport = transport };
        var rootTls = cluster.IssueTls("root", CertificateRole.Root);
        string caDirectory = Path.GetDirectoryName(rootTls.CaFile)!;
        string rootList = Path.Combine(cluster.DirectoryOf("lists"), "root.crl");
        Directory.CreateDirectory(Path.GetDirectoryName(rootList)!);
        File.Copy(Path.Combine(caDirectory, TreeCa.RevocationFile), rootList);

        await using var root = await TreeNode.StartAsync(Options("root", null, rootTls with { RevocationListFile = rootList }) with { RevocationPollInterval = TimeSpan.FromMilliseconds(100) }, ct);
        await using var relayX = await TreeNode.StartAsync(Options("relay-x", root.Address, cluster.IssueTls("relay-x", CertificateRole.Relay)), ct);
        await using var relayY = await TreeNode.StartAsync(Options("relay-y", root.Address, cluster.IssueTls("relay-y", CertificateRole.Relay)), ct);
        await WaitAsync(() => root.Children.Count == 2, "both relays joined", ct);

        await using (var master = await OmniStoreClient.ConnectAsync(root.Address.ToString(), new OmniStoreOptions { Tls = cluster.IssueTls("master", CertificateRole.Client, ["inputs/"]) }, ct))
        {
            await master.PutAsync("inputs/a", TestData.Random(1000, 1), ct);
        }

        // A worker at relay-y, with relay-x to fall back to.
        await using var worker = await OmniStoreClient.ConnectAsync($"{relayY.Address},{relayX.Address}", new OmniStoreOptions { Tls = cluster.IssueTls("worker", CertificateRole.Client) }, ct);
        Assert.Equal(TestData.Random(1000, 1), await worker.GetAsync("inputs/a", ct));

        using (var ca = TreeCa.Open(caDirectory))
        {
            ca.Revoke("relay-x", null);
        }

        File.Copy(Path.Combine(caDirectory, TreeCa.RevocationFile), rootList, overwrite: true);
        await WaitAsync(() => relayX.Parent!.Current is null && root.Children.Count == 1, "the root dropped relay-x", ct);
        string kept = Path.Combine(relayY.Options.DataDirectory, TreeNode.RevocationsFile);
        await WaitAsync(() => File.Exists(kept), "relay-y took the list", ct);
        await Task.Delay(500, ct);
        Assert.Null(relayX.Parent!.Current); // its reconnections are refused at the TLS handshake

        // relay-y goes away: the worker moves to relay-x, which it now refuses.
        await relayY.DisposeAsync();
        var refused = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("inputs/a", ct).AsTask().WaitAsync(Timeout, ct));
        Assert.Contains("certificate 'relay-x'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("is revoked", refused.Message, StringComparison.Ordinal);

        // A relay that joins later gets the list at once from its parent.
        await using var relayZ = await TreeNode.StartAsync(Options("relay-z", root.Address, cluster.IssueTls("relay-z", CertificateRole.Relay)), ct);
        await WaitAsync(() => File.Exists(Path.Combine(relayZ.Options.DataDirectory, TreeNode.RevocationsFile)), "relay-z got the list on joining", ct);

        TreeNodeOptions Options(string site, NodeAddress? parent, TlsOptions tls) => new()
        {
            Listen = [new NodeAddress(transport, "127.0.0.1", 0)],
            Parent = parent,
            Site = site,
            DataDirectory = cluster.DirectoryOf($"{site}-{Guid.NewGuid():N}"),
            CacheSize = parent is null ? 0 : 256L << 20,
            Tls = tls,
        };
    }

    /// <summary>A list the CA did not sign, pushed by a parent, is refused and the one held kept.</summary>
    [Fact]
    public async Task ARevocationListOfAnotherCa_FromTheParent_IsRefused()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: "tls+tcp");
        using var stranger = TreeCa.Init(cluster.DirectoryOf("stranger-ca"), "tree-cluster", 30);
        var relay = cluster.Relays[0];
        var child = Assert.Single(cluster.Root.Children);
        var list = await File.ReadAllBytesAsync(Path.Combine(cluster.DirectoryOf("stranger-ca"), TreeCa.RevocationFile), ct);
        var der = System.Security.Cryptography.PemEncoding.Find(Encoding.ASCII.GetString(list)) is var fields ? Convert.FromBase64String(Encoding.ASCII.GetString(list)[fields.Base64Data]) : list;
        var ex = await Assert.ThrowsAsync<OmniStoreException>(async () => { using var _ = await child.RequestAsync(FrameType.Revocations, der, ct); });
        Assert.Equal(OmniStoreError.InvalidArgument, ex.Error);
        Assert.Contains("the revocation list from the parent", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.True(child.IsOpen, "the link stays up");
        Assert.False(File.Exists(Path.Combine(relay.Options.DataDirectory, TreeNode.RevocationsFile)));
    }

    /// <summary>
    /// A flood of connects to a TLS listener from one address: some send bytes that are no TLS,
    /// some the start of a ClientHello and then nothing, some nothing at all. The node closes each
    /// (at once, or at the handshake timeout), one address never holds more than half the handshake
    /// slots, and a client from another address puts and gets meanwhile.
    /// </summary>
    [Fact]
    public async Task AHandshakeFlood_FromOneAddress_LeavesTheNodeServingOthers()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TreeCluster { Transport = "tls+tcp" };
        await using var root = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress("tls+tcp", "127.0.0.1", 0)],
            Site = "root",
            DataDirectory = cluster.DirectoryOf($"root-{Guid.NewGuid():N}"),
            Tls = cluster.IssueTls("root", CertificateRole.Root),
            MaxPendingHandshakes = 8,
            HandshakeTimeout = TimeSpan.FromSeconds(2),
        }, ct);

        // The first bytes of a TLS 1.3 ClientHello record (type 22, version 3.1, length 512), then silence.
        byte[] helloStart = [22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3];
        var flood = new List<RawSocketPeer>();
        try
        {
            for (int i = 0; i < 60; i++)
            {
                RawSocketPeer peer;
                try
                {
                    peer = await RawSocketPeer.ConnectAsync(root.Address.Port, "127.0.0.2", ct);
                }
                catch (System.Net.Sockets.SocketException)
                {
                    continue; // refused outright: as good
                }

                flood.Add(peer);
                try
                {
                    switch (i % 3)
                    {
                        case 0: await peer.WriteAsync(TestData.Random(4096, i), ct); break; // no TLS at all
                        case 1: await peer.WriteAsync(helloStart, ct); break;                // a ClientHello cut short
                        default: break;                                                       // nothing
                    }
                }
                catch (IOException)
                {
                    // already closed by the node
                }
            }

            await using (var client = await OmniStoreClient.ConnectAsync(root.Address.ToString(), new OmniStoreOptions { Tls = cluster.IssueTls("master", CertificateRole.Client, [""]) }, ct).WaitAsync(Timeout, ct))
            {
                await client.PutAsync("during-the-flood", TestData.Random(100_000, 3), ct).AsTask().WaitAsync(Timeout, ct);
                Assert.Equal(TestData.Random(100_000, 3), await client.GetAsync("during-the-flood", ct).AsTask().WaitAsync(Timeout, ct));
            }

            foreach (var peer in flood)
            {
                await WaitForEndAsync(peer, TimeSpan.FromSeconds(10), ct);
            }
        }
        finally
        {
            flood.ForEach(peer => peer.Dispose());
        }
    }

    /// <summary>Reads what the node sends until it closes the connection; fails if it is still open after <paramref name="within"/>.</summary>
    private static async Task WaitForEndAsync(RawSocketPeer peer, TimeSpan within, CancellationToken ct)
    {
        var buffer = new byte[4096];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(within);
        try
        {
            while (await peer.Stream.ReadAsync(buffer, timeout.Token) > 0)
            {
            }
        }
        catch (IOException)
        {
            // reset: closed as well
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            Assert.Fail($"the node kept a flooding connection open for {within}");
        }
    }

    private static async Task WaitAsync(Func<bool> condition, string what, CancellationToken ct)
    {
        for (int i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(50, ct);
        }

        Assert.True(condition(), $"not within 10 s: {what}");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task AClientWithoutACertificate_IsToldWhatItNeeds(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        var ex = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync(cluster.Root.Address.ToString(), new OmniStoreOptions(), ct));
        Assert.Equal(OmniStoreError.InvalidArgument, ex.Error);
        Assert.Contains("--tls-cert, --tls-key, --tls-ca", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnARelaysLinkToTheRoot_AProxySeesNoNameAndNoObjectByte()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: "tls+tcp");
        await using var proxy = new TcpProxy(cluster.Root.Address.Port);
        var relay = await cluster.StartNodeAsync("site-behind-proxy", new NodeAddress("tls+tcp", "127.0.0.1", proxy.Port));
        var data = TestData.Random(2 << 20, 9);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("inputs/very-secret-name", data, ct);
        }

        await using var worker = await TreeCluster.ConnectAsync(relay);
        Assert.Equal(data, await worker.GetAsync("inputs/very-secret-name", ct).AsTask().WaitAsync(Timeout, ct));

        var captured = proxy.Captured();
        Assert.True(captured.Length > data.Length, $"the proxy carried {captured.Length} bytes");
        Assert.Equal(-1, captured.AsSpan().IndexOf(Encoding.UTF8.GetBytes("very-secret-name")));
        Assert.Equal(-1, captured.AsSpan().IndexOf(data.AsSpan(100_000, 32)));
    }

    /// <summary>A client of <paramref name="node"/> whose certificate writes and reads only what is given.</summary>
    private static Task<OmniStoreClient> ClientAsync(TreeCluster cluster, TreeNode node, string name, string[] write, string[]? read = null) =>
        OmniStoreClient.ConnectAsync(node.Address.ToString(), new OmniStoreOptions { Tls = cluster.IssueTls(name, CertificateRole.Client, write, read) });

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task AReaderCertificate_CannotPut(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        await using var reader = await ClientAsync(cluster, cluster.Root, "reader", write: []);
        foreach (int size in new[] { 100, 3 << 20 }) // one PUT_OBJECT; chunks, a manifest and a BIND
        {
            var ex = await Assert.ThrowsAsync<OmniStoreException>(() => reader.PutAsync("inputs/x", TestData.Random(size, 2), ct).AsTask());
            Assert.Equal(OmniStoreError.Unauthorized, ex.Error);
            Assert.Contains("Certificate 'reader' may not write", ex.Message, StringComparison.Ordinal);
        }

        Assert.Null(await reader.StatAsync("inputs/x", ct));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task AWriterForResults_CannotPutOrRemoveInputs_ButPutsResults(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 0, transport: transport);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("inputs/x", TestData.Random(1000, 3), ct);
        }

        await using var worker = await ClientAsync(cluster, cluster.Root, "worker", write: ["results/"]);
        var put = await Assert.ThrowsAsync<OmniStoreException>(() => worker.PutAsync("inputs/x", TestData.Random(1000, 4), ct).AsTask());
        Assert.Equal(OmniStoreError.Unauthorized, put.Error);
        Assert.Equal("Certificate 'worker' may not write 'inputs/x' (it writes results/).", put.Message);
        var remove = await Assert.ThrowsAsync<OmniStoreException>(() => worker.DeleteAsync("inputs/x", ct).AsTask());
        Assert.Equal(OmniStoreError.Unauthorized, remove.Error);

        await worker.PutAsync("results/run-1", TestData.Random(1000, 5), ct);
        Assert.Equal(TestData.Random(1000, 5), await worker.GetAsync("results/run-1", ct));
        Assert.Equal(TestData.Random(1000, 3), await worker.GetAsync("inputs/x", ct)); // reading is every name by default
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ThroughARelay_AClientGetsOnlyWhatItsCertificateGrants(string transport)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TreeCluster.StartAsync(relays: 1, transport: transport);
        await using (var master = await TreeCluster.ConnectAsync(cluster.Root))
        {
            await master.PutAsync("inputs/x", TestData.Random(1000, 6), ct);
            await master.PutAsync("results/secret", TestData.Random(1000, 7), ct);
        }

        await using var worker = await ClientAsync(cluster, cluster.Relays[0], "worker", write: ["results/"], read: ["inputs/"]);
        Assert.Equal(TestData.Random(1000, 6), await worker.GetAsync("inputs/x", ct));
        var read = await Assert.ThrowsAsync<OmniStoreException>(() => worker.GetAsync("results/secret", ct).AsTask());
        Assert.Equal(OmniStoreError.Unauthorized, read.Error);
        Assert.Equal("Certificate 'worker' may not read 'results/secret' (it reads inputs/).", read.Message);
        var write = await Assert.ThrowsAsync<OmniStoreException>(() => worker.PutAsync("inputs/y", TestData.Random(1000, 8), ct).AsTask());
        Assert.Equal(OmniStoreError.Unauthorized, write.Error);

        await using var master2 = await TreeCluster.ConnectAsync(cluster.Root);
        Assert.Null(await master2.StatAsync("inputs/y", ct)); // the relay refused it: nothing reached the root
    }

    /// <summary>The relay's parent link reports why it is not connected (its last refusal).</summary>
    private static async Task<string> WaitForRefusalAsync(TreeNode relay, CancellationToken ct)
    {
        for (int i = 0; i < 100; i++)
        {
            if (relay.Parent!.LastProblem is { } error)
            {
                return error;
            }

            await Task.Delay(100, ct);
        }

        throw new TimeoutException("the parent link reported nothing");
    }
}
