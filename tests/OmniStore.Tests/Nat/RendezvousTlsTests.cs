using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Nat.Rendezvous;
using OmniStore.Node;
using OmniStore.Security;
using OmniStore.Testing;
using OmniStore.Transport;

namespace OmniStore.Tests.Nat;

/// <summary>
/// NAT traversal in a TLS tree (docs/nat.md, "TLS"): the rendezvous connection is TLS, a client's
/// certificate registers no name, and a dialer of <c>tls+rudp://NAME</c> takes only a node whose
/// certificate names NAME.
/// </summary>
public sealed class RendezvousTlsTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-rendezvous-tls");
    private readonly TreeCa _ca;

    public RendezvousTlsTests() => _ca = TreeCa.Init(_dir.Sub("ca"), "nat-tree", 30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    private TlsOptions Issue(string name, CertificateRole role, params string[] hosts) =>
        OmniStore.Tests.Tree.TreeCluster.WriteIssued(
            _ca.Issue(name, role, [.. hosts, "127.0.0.1"], role == CertificateRole.Client ? [""] : null, null, 30),
            _dir.Sub($"tls-{name}-{Guid.NewGuid():N}"),
            Path.Combine(_dir.Sub("ca"), TreeCa.CertificateFile));

    private RendezvousServer StartRendezvous()
    {
        return RendezvousServer.Start([new NodeAddress("tls+rudp", "127.0.0.1", 0)], null, null, NullLoggerFactory.Instance, Issue("rendezvous", CertificateRole.Relay).Load());
    }

    private Task<TreeNode> StartRootAsync(RendezvousServer rendezvous, TlsOptions tls) => TreeNode.StartAsync(new TreeNodeOptions
    {
        Listen = [new NodeAddress("tls+rudp", "127.0.0.1", 0)],
        NodeName = "master",
        Rendezvous = rendezvous.Addresses[0],
        Site = "root",
        DataDirectory = _dir.Sub($"root-{Guid.NewGuid():N}"),
        Tls = tls,
    }, Token);

    [Fact]
    public async Task ANamedRootInATlsTree_IsReachedAsTlsRudpName_OverTls()
    {
        await using var rendezvous = StartRendezvous();
        Assert.Equal("tls+rudp", rendezvous.Addresses[0].Scheme);
        await using var root = await StartRootAsync(rendezvous, Issue("root", CertificateRole.Root, "master"));
        await root.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);

        await using var client = await OmniStoreClient.ConnectAsync("tls+rudp://master", new OmniStoreOptions { Rendezvous = rendezvous.Addresses[0].ToString(), Tls = Issue("worker", CertificateRole.Client) }, Token);
        await client.PutAsync("tls/named", "over tls"u8.ToArray(), cancellationToken: Token);
        Assert.Equal("over tls"u8.ToArray(), await client.GetAsync("tls/named", Token));
        var child = Assert.Single(root.Children);
        Assert.Equal("tls+rudp", child.Path!.Transport);
    }

    [Fact]
    public async Task ANodeWhoseCertificateDoesNotNameIt_IsRefusedByTheDialer()
    {
        await using var rendezvous = StartRendezvous();
        await using var impostor = await StartRootAsync(rendezvous, Issue("not-master", CertificateRole.Root)); // registers "master", certificate names another
        await impostor.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync("tls+rudp://master", new OmniStoreOptions { Rendezvous = rendezvous.Addresses[0].ToString(), Tls = Issue("worker", CertificateRole.Client) }, Token));
        Assert.Contains("master", error.Message, StringComparison.Ordinal);
        Assert.Empty(impostor.Children);
    }

    [Fact]
    public async Task AClientCertificate_RegistersNoName()
    {
        await using var rendezvous = StartRendezvous();
        var options = new OmniStore.Nat.NatOptions { Rendezvous = rendezvous.Addresses[0], Name = "master", Tls = Issue("a-client", CertificateRole.Client).Load() };
        await using var client = new OmniStore.Nat.NatTraversal(options, endpoint: null, new OmniStore.Protocol.ConnectionIdentity(OmniStore.Protocol.NodeIdentity.FromCertificate(options.Tls.Certificate), OmniStore.Protocol.NodeRole.Client, string.Empty, null), NullLogger.Instance);
        client.Start();
        await Task.Delay(1500, Token);
        Assert.False(client.IsRegistered);
        Assert.Equal(0, rendezvous.Service.RegistrationCount);
    }
}
