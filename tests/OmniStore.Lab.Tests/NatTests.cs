using System.Net;
using System.Net.Sockets;
using OmniStore.Lab.Tests.Infrastructure;

namespace OmniStore.Lab.Tests;

/// <summary>A NATed site reaches the root, the root cannot open a connection into it, and the two NAT kinds map ports as named.</summary>
public sealed class NatTests
{
    private static readonly TimeSpan RefusalWait = TimeSpan.FromSeconds(2);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static LabTopology Topology() => new()
    {
        Sites =
        [
            new SiteSpec("open") { Link = new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(2) } },
            new SiteSpec("cone") { Link = new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(2) }, Nat = NatKind.Cone },
            new SiteSpec("symmetric") { Link = new WanLinkSpec { Delay = TimeSpan.FromMilliseconds(2) }, Nat = NatKind.Symmetric },
        ],
    };

    [Theory]
    [InlineData("cone")]
    [InlineData("symmetric")]
    public async Task A_NATed_site_reaches_the_root_from_its_public_address(string siteName)
    {
        LabRequirement.Ensure();
        await using var lab = await Lab.StartAsync(Topology(), Token);
        var site = lab[siteName];
        using var listener = LabSockets.Listen(lab.Master, lab.Master.Address);

        using var client = LabSockets.Tcp(site);
        await client.ConnectAsync(new IPEndPoint(lab.Master.Address, LabSockets.Port(listener)), Token).AsTask().WaitAsync(LabSockets.Timeout, Token);
        using var accepted = await listener.AcceptAsync(Token).AsTask().WaitAsync(LabSockets.Timeout, Token);

        Assert.Equal(site.PublicAddress, ((IPEndPoint)accepted.RemoteEndPoint!).Address);
        Assert.NotEqual(site.Address, site.PublicAddress);
        await client.SendAsync("ping"u8.ToArray(), Token);
        var buffer = new byte[4];
        Assert.Equal(4, await accepted.ReceiveAsync(buffer, Token).AsTask().WaitAsync(LabSockets.Timeout, Token));
    }

    [Theory]
    [InlineData("cone")]
    [InlineData("symmetric")]
    public async Task The_root_cannot_open_a_connection_into_a_NATed_site(string siteName)
    {
        LabRequirement.Ensure();
        await using var lab = await Lab.StartAsync(Topology(), Token);
        var site = lab[siteName];
        using var listener = LabSockets.Listen(site, IPAddress.Any);
        var port = LabSockets.Port(listener);
        using var openListener = LabSockets.Listen(lab["open"], IPAddress.Any);

        var toPrivate = LabSockets.CanConnectAsync(lab.Master, new IPEndPoint(site.Address, port), RefusalWait, Token);
        var toPublic = LabSockets.CanConnectAsync(lab.Master, new IPEndPoint(site.PublicAddress, port), RefusalWait, Token);
        var toOpenSite = LabSockets.CanConnectAsync(lab.Master, new IPEndPoint(lab["open"].Address, LabSockets.Port(openListener)), RefusalWait, Token);

        Assert.False(await toPrivate, $"the root connected to {site.Address}:{port} behind the NAT");
        Assert.False(await toPublic, $"the root connected through the NAT's public address {site.PublicAddress}:{port}");
        Assert.True(await toOpenSite, "the root could not connect to a site without NAT either: the check above proves nothing");
    }

    [Theory]
    [InlineData("cone", true)]
    [InlineData("symmetric", false)]
    [InlineData("open", true)]
    public async Task One_socket_keeps_one_public_port_only_behind_a_cone_NAT(string siteName, bool samePort)
    {
        LabRequirement.Ensure();
        await using var lab = await Lab.StartAsync(Topology(), Token);
        var site = lab[siteName];
        using var first = LabSockets.Udp(lab.Master, lab.Master.Address);
        using var second = LabSockets.Udp(lab.Master, lab.Master.Address);
        using var client = LabSockets.Udp(site, IPAddress.Any);

        var seenByFirst = await SourceSeenAsync(client, first);
        var seenBySecond = await SourceSeenAsync(client, second);

        Assert.Equal(site.PublicAddress, seenByFirst.Address);
        Assert.Equal(site.PublicAddress, seenBySecond.Address);
        Assert.Equal(samePort, seenByFirst.Port == seenBySecond.Port);
    }

    private static async Task<IPEndPoint> SourceSeenAsync(Socket client, Socket server)
    {
        var receive = server.ReceiveFromAsync(new byte[64], new IPEndPoint(IPAddress.Any, 0), Token).AsTask();
        await client.SendToAsync("hello"u8.ToArray(), server.LocalEndPoint!, Token);
        var result = await receive.WaitAsync(LabSockets.Timeout, Token);
        return (IPEndPoint)result.RemoteEndPoint;
    }
}
