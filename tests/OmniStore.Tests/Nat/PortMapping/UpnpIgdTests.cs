using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using OmniStore.Nat.PortMapping;

namespace OmniStore.Tests.Nat.PortMapping;

/// <summary>
/// UPnP-IGD: SSDP answers, device descriptions and SOAP answers read as hostile (sizes, DTDs,
/// addresses elsewhere, faults), and the client against a loopback gateway: discovery, the SOAP it
/// sends, another external port on conflict, removal.
/// </summary>
public sealed partial class UpnpIgdTests
{
    private const string WanIp1 = "urn:schemas-upnp-org:service:WANIPConnection:1";
    private static readonly Uri Location = new("http://127.0.0.1:5000/rootDesc.xml");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void Search_IsAnMSearchForTheService()
    {
        var text = Encoding.ASCII.GetString(SsdpMessage.EncodeSearch(WanIp1, 2));
        Assert.Equal("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: " + WanIp1 + "\r\n\r\n", text);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:service:WANIPConnection:1\r\nLOCATION: http://127.0.0.1:5000/d.xml\r\n\r\n", null)]
    [InlineData("HTTP/1.1 404 Not Found\r\nST: urn:schemas-upnp-org:service:WANIPConnection:1\r\nLOCATION: http://127.0.0.1:5000/d.xml\r\n\r\n", "status line")]
    [InlineData("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:MediaRenderer:1\r\nLOCATION: http://127.0.0.1:5000/d.xml\r\n\r\n", "not a service searched for")]
    [InlineData("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:service:WANIPConnection:1\r\nLOCATION: http://127.0.0.2:5000/d.xml\r\n\r\n", "not an http URL on that address")]
    [InlineData("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:service:WANIPConnection:1\r\nLOCATION: https://127.0.0.1:5000/d.xml\r\n\r\n", "not an http URL on that address")]
    [InlineData("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:service:WANIPConnection:1\r\nLOCATION: http://router.local:5000/d.xml\r\n\r\n", "not an http URL on that address")]
    [InlineData("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:service:WANIPConnection:1\u001b[2J\r\n\r\n", "not printable ASCII")]
    public void SsdpAnswers_AreReadAsHostile(string answer, string? reason)
    {
        var read = SsdpMessage.TryParse(Encoding.Latin1.GetBytes(answer), IPAddress.Loopback, out var problem);
        if (reason is null)
        {
            Assert.Equal(new Uri("http://127.0.0.1:5000/d.xml"), read!.Location);
        }
        else
        {
            Assert.Null(read);
            Assert.Contains(reason, problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AnOversizedSsdpAnswer_IsRefused()
    {
        var answer = "HTTP/1.1 200 OK\r\nST: " + WanIp1 + "\r\nX: " + new string('a', 3000) + "\r\n\r\n";
        Assert.Null(SsdpMessage.TryParse(Encoding.ASCII.GetBytes(answer), IPAddress.Loopback, out var problem));
        Assert.Contains("at most 2048", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Description_GivesTheControlUrl_OfTheNewestServiceSearchedFor()
    {
        var xml = Encoding.UTF8.GetString(FakeUpnpGateway.DescriptionXml(WanIp1, "/ctl/IPConn"))
            .Replace("</serviceList>", "<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>/ctl/IPConn2</controlURL></service></serviceList>", StringComparison.Ordinal);

        var (control, type) = UpnpXml.ReadDescription(Encoding.UTF8.GetBytes(xml), Location);

        Assert.Equal(new Uri("http://127.0.0.1:5000/ctl/IPConn2"), control);
        Assert.Equal("urn:schemas-upnp-org:service:WANIPConnection:2", type);
    }

    [Theory]
    [InlineData("http://127.0.0.2:5000/ctl", "not an http URL on 127.0.0.1")]
    [InlineData("file:///etc/passwd", "not an http URL on 127.0.0.1")]
    public void Description_WithAControlUrlElsewhere_IsRefused(string controlUrl, string reason)
    {
        var e = Assert.Throws<OmniStoreException>(() => UpnpXml.ReadDescription(FakeUpnpGateway.DescriptionXml(WanIp1, controlUrl), Location));
        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Description_WithADtd_IsRefused()
    {
        // An entity expansion ("billion laughs") or an external entity: refused before anything is expanded or fetched.
        const string Dtd = "<!DOCTYPE root [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY x SYSTEM \"file:///etc/passwd\">]>";
        var e = Assert.Throws<OmniStoreException>(() => UpnpXml.ReadDescription(FakeUpnpGateway.DescriptionXml(WanIp1, "/ctl", Dtd), Location));
        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains("DTD", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Description_Oversized_OrWithoutTheService_IsRefused()
    {
        var big = Encoding.UTF8.GetBytes("<root>" + new string(' ', UpnpXml.MaxDescriptionBytes) + "</root>");
        Assert.Contains("more than 65536 bytes", Assert.Throws<OmniStoreException>(() => UpnpXml.ReadDescription(big, Location)).Message, StringComparison.Ordinal);
        var other = FakeUpnpGateway.DescriptionXml("urn:schemas-upnp-org:service:Layer3Forwarding:1", "/ctl");
        Assert.Contains("no WANIPConnection or WANPPPConnection", Assert.Throws<OmniStoreException>(() => UpnpXml.ReadDescription(other, Location)).Message, StringComparison.Ordinal);
        Assert.Contains("not XML", Assert.Throws<OmniStoreException>(() => UpnpXml.ReadDescription("<root><unclosed></root>"u8, Location)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SoapAnswers_AreTheResponse_OrTheUpnpError_OrRefused()
    {
        var ok = UpnpXml.ReadSoapAnswer(Encoding.UTF8.GetBytes(FakeUpnpGateway.Response("GetExternalIPAddress", WanIp1, ("NewExternalIPAddress", "198.18.200.7"))), "GetExternalIPAddress", Location);
        Assert.Equal("198.18.200.7", ok.Values["NewExternalIPAddress"]);

        var fault = UpnpXml.ReadSoapAnswer(Encoding.UTF8.GetBytes(FakeUpnpGateway.Fault(718, "ConflictInMappingEntry")), "AddPortMapping", Location);
        Assert.Equal((718, "ConflictInMappingEntry"), (fault.ErrorCode, fault.ErrorDescription));

        // A SOAP fault without a UPnPError, or another action's response: neither is an answer.
        const string BareFault = """<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode></s:Fault></s:Body></s:Envelope>""";
        Assert.Contains("neither", Assert.Throws<OmniStoreException>(() => UpnpXml.ReadSoapAnswer(Encoding.UTF8.GetBytes(BareFault), "AddPortMapping", Location)).Message, StringComparison.Ordinal);
        var wrong = Encoding.UTF8.GetBytes(FakeUpnpGateway.Response("DeletePortMapping", WanIp1));
        Assert.Throws<OmniStoreException>(() => UpnpXml.ReadSoapAnswer(wrong, "AddPortMapping", Location));
        var big = Encoding.UTF8.GetBytes(FakeUpnpGateway.Response("GetExternalIPAddress", WanIp1, ("X", new string('x', UpnpXml.MaxSoapBytes))));
        Assert.Contains("more than 16384 bytes", Assert.Throws<OmniStoreException>(() => UpnpXml.ReadSoapAnswer(big, "GetExternalIPAddress", Location)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Map_DiscoversTheGateway_AndTriesAnotherPort_OnConflict()
    {
        await using var gateway = new FakeUpnpGateway();
        int adds = 0;
        gateway.Soap = (action, body) => action switch
        {
            "GetExternalIPAddress" => (200, FakeUpnpGateway.Response(action, WanIp1, ("NewExternalIPAddress", "198.18.200.7"))),
            "GetSpecificPortMappingEntry" => (500, FakeUpnpGateway.Fault(714, "NoSuchEntryInArray")),
            "AddPortMapping" => Interlocked.Increment(ref adds) == 1 ? (500, FakeUpnpGateway.Fault(718, "ConflictInMappingEntry")) : (200, FakeUpnpGateway.Response(action, WanIp1)),
            "DeletePortMapping" => (200, FakeUpnpGateway.Response(action, WanIp1)),
            _ => (500, FakeUpnpGateway.Fault(401, "Invalid Action")),
        };

        await using var client = await UpnpIgdClient.DiscoverAsync(SocketFactories.Default, gateway.SsdpEndPoint, TimeSpan.FromSeconds(5), cancellationToken: Token);
        Assert.Equal(new Uri($"http://127.0.0.1:{gateway.HttpPort}{FakeUpnpGateway.ControlPath}"), client.ControlUrl);
        Assert.Equal(IPAddress.Loopback, client.InternalClient);

        var lease = await client.MapAsync(5000, 5000, TimeSpan.FromSeconds(3600), Token);
        await client.UnmapAsync(lease, Token);

        var added = gateway.Calls.Where(c => c.Action == "AddPortMapping").Select(c => Argument(c.Body, "NewExternalPort")).ToArray();
        Assert.Equal(2, added.Length);
        Assert.Equal("5000", added[0]);
        Assert.NotEqual("5000", added[1]);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.18.200.7"), int.Parse(added[1], System.Globalization.CultureInfo.InvariantCulture)), lease.PublicEndPoint);
        var add = gateway.Calls.First(c => c.Action == "AddPortMapping").Body;
        Assert.Equal(("UDP", "5000", "127.0.0.1", "3600"), (Argument(add, "NewProtocol"), Argument(add, "NewInternalPort"), Argument(add, "NewInternalClient"), Argument(add, "NewLeaseDuration")));
        var delete = gateway.Calls.Single(c => c.Action == "DeletePortMapping").Body;
        Assert.Equal(added[1], Argument(delete, "NewExternalPort"));
    }

    [Fact]
    public async Task Map_DoesNotTakeOverAPortForwardedToAnotherPortOfThisHost()
    {
        // AddPortMapping would succeed (the IGD templates overwrite a mapping of the same internal client).
        await using var gateway = new FakeUpnpGateway();
        gateway.Soap = (action, body) => action switch
        {
            "GetExternalIPAddress" => (200, FakeUpnpGateway.Response(action, WanIp1, ("NewExternalIPAddress", "198.18.200.7"))),
            "GetSpecificPortMappingEntry" when Argument(body, "NewExternalPort") == "5000" =>
                (200, FakeUpnpGateway.Response(action, WanIp1, ("NewInternalPort", "4000"), ("NewInternalClient", "127.0.0.1"), ("NewEnabled", "1"), ("NewLeaseDuration", "100"))),
            "GetSpecificPortMappingEntry" => (500, FakeUpnpGateway.Fault(714, "NoSuchEntryInArray")),
            _ => (200, FakeUpnpGateway.Response(action, WanIp1)),
        };
        await using var client = await UpnpIgdClient.DiscoverAsync(SocketFactories.Default, gateway.SsdpEndPoint, TimeSpan.FromSeconds(5), cancellationToken: Token);

        var lease = await client.MapAsync(5000, 5000, TimeSpan.FromSeconds(60), Token);

        Assert.NotEqual(5000, lease.PublicEndPoint.Port);
        Assert.DoesNotContain(gateway.Calls, c => c.Action == "AddPortMapping" && Argument(c.Body, "NewExternalPort") == "5000");
    }

    [Fact]
    public async Task AFault_IsAnError_WithItsCode_AndItsDescriptionEscaped()
    {
        await using var gateway = new FakeUpnpGateway();
        gateway.Soap = (_, _) => (500, FakeUpnpGateway.Fault(606, "Action not authorized\u202Egnp.exe"));
        await using var client = await UpnpIgdClient.DiscoverAsync(SocketFactories.Default, gateway.SsdpEndPoint, TimeSpan.FromSeconds(5), cancellationToken: Token);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetExternalAddressAsync(Token));

        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains("error 606 (Action not authorized\\u202Egnp.exe)", e.Message, StringComparison.Ordinal); // a bidi override, shown as an escape
        Assert.DoesNotContain('\u202E', e.Message);
    }

    [Fact]
    public async Task AnOversizedSoapAnswer_IsRefused()
    {
        await using var gateway = new FakeUpnpGateway();
        gateway.Soap = (action, _) => (200, FakeUpnpGateway.Response(action, WanIp1, ("NewExternalIPAddress", new string('9', 20_000))));
        await using var client = await UpnpIgdClient.DiscoverAsync(SocketFactories.Default, gateway.SsdpEndPoint, TimeSpan.FromSeconds(5), cancellationToken: Token);

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => client.GetExternalAddressAsync(Token));

        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains("16384 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Discovery_RefusesAnOversizedDescription_AndSaysWhy()
    {
        await using var gateway = new FakeUpnpGateway { Description = Encoding.UTF8.GetBytes("<root>" + new string(' ', 70_000) + "</root>") };

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => UpnpIgdClient.DiscoverAsync(SocketFactories.Default, gateway.SsdpEndPoint, TimeSpan.FromSeconds(2), cancellationToken: Token));

        Assert.Equal(OmniStoreError.ProtocolError, e.Error);
        Assert.Contains("65536 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Discovery_WithNoAnswer_IsUnavailable_InItsTime()
    {
        using var silent = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var started = DateTime.UtcNow;

        var e = await Assert.ThrowsAsync<OmniStoreException>(() => UpnpIgdClient.DiscoverAsync(SocketFactories.Default, (IPEndPoint)silent.LocalEndPoint!, TimeSpan.FromSeconds(1.5), cancellationToken: Token));

        Assert.Equal(OmniStoreError.Unavailable, e.Error);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(1.4), TimeSpan.FromSeconds(4));
    }

    private static string Argument(string body, string name) => ArgumentPattern().Matches(body).First(m => m.Groups[1].Value == name).Groups[2].Value;

    [GeneratedRegex("<(New[A-Za-z]+)>([^<]*)</New[A-Za-z]+>", RegexOptions.CultureInvariant)]
    private static partial Regex ArgumentPattern();
}
