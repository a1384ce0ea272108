using System.Buffers.Binary;
using System.Net;
using OmniStore.Nat.PortMapping;

namespace OmniStore.Tests.Nat.PortMapping;

/// <summary>The port mapper against loopback gateways: the first method that succeeds is kept and named, it renews at half the lifetime, removes on dispose, and says why when nothing worked.</summary>
public sealed class PortMapperTests
{
    private static readonly PortMappingSchedule Fast = new(TimeSpan.FromMilliseconds(100), 3);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheMapping_IsRenewedAtHalfItsLifetime_AndRemovedOnDispose()
    {
        await using var server = new FakeUdpGateway((request, _) => NatPmpTests.Answer(request, 40005, request.Length == 12 ? BinaryPrimitives.ReadUInt32BigEndian(request.AsSpan(8)) : 0));
        var mapper = await PortMapper.StartAsync(5000, TimeSpan.FromSeconds(2), Options(server, PortMappingMethods.NatPmp), cancellationToken: Token);

        Assert.Equal(PortMappingMethods.NatPmp, mapper.Method);
        Assert.Equal("nat-pmp", mapper.MethodName);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.18.200.7"), 40005), mapper.PublicEndPoint);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (mapper.RenewalCount < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, Token);
        }

        Assert.True(mapper.RenewalCount >= 2, $"renewed {mapper.RenewalCount} times in 5 s with a 2 s lifetime");
        var renewal = server.Requests.Last(r => r.Request.Length == 12).Request;
        Assert.Equal(40005, BinaryPrimitives.ReadUInt16BigEndian(renewal.AsSpan(6))); // renewing asks for the port it has

        await mapper.DisposeAsync();
        Assert.Equal(NatPmpMessage.EncodeMapUdpRequest(5000, 0, 0), server.Requests[^1].Request);
    }

    [Fact]
    public async Task AMappingThatCannotBeRenewed_IsReportedLost_AndComesBackWithTheGateway()
    {
        bool answering = true;
        await using var server = new FakeUdpGateway((request, _) => Volatile.Read(ref answering) ? NatPmpTests.Answer(request, 40006, 2) : null);
        await using var mapper = await PortMapper.StartAsync(5000, TimeSpan.FromSeconds(2), Options(server, PortMappingMethods.NatPmp), cancellationToken: Token);
        Assert.NotNull(mapper.PublicEndPoint);

        Volatile.Write(ref answering, false);
        Assert.True(await EventuallyAsync(() => mapper.PublicEndPoint is null, TimeSpan.FromSeconds(8)), "the mapping was not reported lost after its lifetime passed unrenewed");

        Volatile.Write(ref answering, true);
        Assert.True(await EventuallyAsync(() => mapper.PublicEndPoint is not null, TimeSpan.FromSeconds(8)), "the mapping did not come back once the gateway answered again");
        Assert.Equal(40006, mapper.PublicEndPoint!.Port);
    }

    [Fact]
    public async Task TheFirstMethodThatSucceeds_IsKept()
    {
        // NAT-PMP never answers; UPnP does.
        await using var silent = new FakeUdpGateway((_, _) => null);
        await using var upnp = new FakeUpnpGateway();
        upnp.Soap = (action, _) => action switch
        {
            "GetExternalIPAddress" => (200, FakeUpnpGateway.Response(action, "urn:schemas-upnp-org:service:WANIPConnection:1", ("NewExternalIPAddress", "198.18.200.8"))),
            "GetSpecificPortMappingEntry" => (500, FakeUpnpGateway.Fault(714, "NoSuchEntryInArray")),
            _ => (200, FakeUpnpGateway.Response(action, "urn:schemas-upnp-org:service:WANIPConnection:1")),
        };
        var options = new PortMapperOptions
        {
            Methods = PortMappingMethods.NatPmp | PortMappingMethods.Upnp,
            FindGateway = () => silent.Address,
            GatewayPort = silent.Port,
            SsdpTarget = upnp.SsdpEndPoint,
            Schedule = new PortMappingSchedule(TimeSpan.FromMilliseconds(500), 4),
            LoserGrace = TimeSpan.FromMilliseconds(100),
        };

        await using var mapper = await PortMapper.StartAsync(5000, TimeSpan.FromSeconds(60), options, cancellationToken: Token);

        Assert.Equal("upnp", mapper.MethodName);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.18.200.8"), 5000), mapper.PublicEndPoint);
    }

    [Fact]
    public async Task WhenNothingMaps_TheErrorNamesEachMethodsReason()
    {
        await using var silent = new FakeUdpGateway((_, _) => null);
        var options = Options(silent, PortMappingMethods.All);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => PortMapper.StartAsync(5000, TimeSpan.FromSeconds(60), options, cancellationToken: Token));

        Assert.Equal(OmniStoreError.Unavailable, e.Error);
        Assert.Contains("nat-pmp: The NAT-PMP server", e.Message, StringComparison.Ordinal);
        Assert.Contains("pcp: The PCP server", e.Message, StringComparison.Ordinal);
        Assert.Contains("upnp: No UPnP gateway answered", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_AreCheckedUpFront()
    {
        Assert.Throws<ArgumentException>(() => new PortMapperOptions { Methods = PortMappingMethods.None }.Validate("options"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PortMapperOptions { SuggestedExternalPort = 70000 }.Validate("options"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PortMapperOptions { Schedule = new PortMappingSchedule(TimeSpan.Zero, 3) }.Validate("options"));
    }

    [Fact]
    public void DefaultGateway_IsReadFromTheRoutingTable()
    {
        const string Table = """
            Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
            lan	000112C6	00000000	0001	0	0	0	00FFFFFF	0	0	0
            wan	00000000	010113C6	0003	0	0	200	00000000	0	0	0
            lan	00000000	010112C6	0003	0	0	100	00000000	0	0	0

            """;
        Assert.Equal(IPAddress.Parse("198.18.1.1"), DefaultGateway.Parse(Table)); // the lower metric; the address's bytes as the kernel stores them (little-endian here)
        Assert.Null(DefaultGateway.Parse("Iface\tDestination\n"));
    }

    private static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, Token);
        }

        return condition();
    }

    private static PortMapperOptions Options(FakeUdpGateway server, PortMappingMethods methods)
    {
        using var nothing = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        nothing.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new PortMapperOptions
        {
            Methods = methods,
            FindGateway = () => server.Address,
            GatewayPort = server.Port,
            SsdpTarget = (IPEndPoint)nothing.LocalEndPoint!, // a loopback port nobody answers on, never the multicast group
            DiscoveryTimeout = TimeSpan.FromSeconds(1),
            Schedule = Fast,
        };
    }
}
