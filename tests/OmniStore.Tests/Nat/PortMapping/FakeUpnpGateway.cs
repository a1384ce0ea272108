using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OmniStore.Tests.Nat.PortMapping;

/// <summary>
/// A UPnP-IGD gateway on loopback for tests: an SSDP responder (unicast, on its own UDP port) whose
/// answer points at its HTTP server, which serves <see cref="Description"/> and answers SOAP calls
/// with <see cref="Soap"/>. Every SOAP call is recorded (action and body).
/// </summary>
internal sealed class FakeUpnpGateway : IAsyncDisposable
{
    public const string ControlPath = "/ctl/IPConn";

    private readonly Socket _ssdp = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly TcpListener _http = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(string Action, string Body)> _calls = [];
    private readonly Task _ssdpLoop;
    private readonly Task _httpLoop;

    public FakeUpnpGateway()
    {
        _ssdp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _http.Start();
        Description = DescriptionXml("urn:schemas-upnp-org:service:WANIPConnection:1", ControlPath);
        _ssdpLoop = Task.Run(SsdpLoopAsync);
        _httpLoop = Task.Run(HttpLoopAsync);
    }

    /// <summary>Where M-SEARCHes go.</summary>
    public IPEndPoint SsdpEndPoint => (IPEndPoint)_ssdp.LocalEndPoint!;

    public int HttpPort => ((IPEndPoint)_http.LocalEndpoint).Port;

    /// <summary>The SSDP answer's text; by default a 200 naming the description on the HTTP server.</summary>
    public Func<string, string>? SsdpAnswer { get; set; }

    /// <summary>The description served at /rootDesc.xml, as bytes.</summary>
    public byte[] Description { get; set; }

    /// <summary>Gets the action and the request body; returns the HTTP status and the body to answer with.</summary>
    public Func<string, string, (int Status, string Body)> Soap { get; set; } = (_, _) => (500, "");

    public IReadOnlyList<(string Action, string Body)> Calls
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    public static byte[] DescriptionXml(string serviceType, string controlUrl, string prolog = "") => Encoding.UTF8.GetBytes(
        $"""
        <?xml version="1.0"?>{prolog}
        <root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
        <device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
        <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
        <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
        <serviceList><service><serviceType>{serviceType}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
        <SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>{controlUrl}</controlURL><eventSubURL>/evt/IPConn</eventSubURL></service></serviceList>
        </device></deviceList></device></deviceList></device></root>
        """);

    public static string Response(string action, string serviceType, params (string Name, string Value)[] values) =>
        $"""<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:{action}Response xmlns:u="{serviceType}">{string.Concat(values.Select(v => $"<{v.Name}>{v.Value}</{v.Name}>"))}</u:{action}Response></s:Body></s:Envelope>""";

    public static string Fault(int code, string description) =>
        $"""<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>{code}</errorCode><errorDescription>{description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>""";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _ssdp.Dispose();
        _http.Stop();
        foreach (var loop in (Task[])[_ssdpLoop, _httpLoop])
        {
            try
            {
                await loop;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped.
            }
        }

        _stop.Dispose();
    }

    private async Task SsdpLoopAsync()
    {
        var buffer = new byte[2048];
        while (!_stop.IsCancellationRequested)
        {
            var received = await _ssdp.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
            var search = Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes);
            var st = search.Split("\r\n").FirstOrDefault(l => l.StartsWith("ST:", StringComparison.Ordinal))?[3..].Trim() ?? "";
            var answer = SsdpAnswer?.Invoke(st) ??
                $"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: {st}\r\nUSN: uuid:test::{st}\r\nEXT:\r\nSERVER: test UPnP/1.1 fake/1\r\nLOCATION: http://127.0.0.1:{HttpPort}/rootDesc.xml\r\n\r\n";
            await _ssdp.SendToAsync(Encoding.ASCII.GetBytes(answer), received.RemoteEndPoint, _stop.Token);
        }
    }

    private async Task HttpLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _http.AcceptTcpClientAsync(_stop.Token);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var (head, body) = await ReadRequestAsync(stream);
                var lines = head.Split("\r\n");
                byte[] answer;
                int status;
                if (lines[0].StartsWith("GET /rootDesc.xml", StringComparison.Ordinal))
                {
                    (status, answer) = (200, Description);
                }
                else
                {
                    var soapAction = lines.First(l => l.StartsWith("SOAPAction:", StringComparison.OrdinalIgnoreCase))[11..].Trim().Trim('"');
                    var action = soapAction[(soapAction.IndexOf('#', StringComparison.Ordinal) + 1)..];
                    lock (_calls)
                    {
                        _calls.Add((action, body));
                    }

                    var (code, text) = Soap(action, body);
                    (status, answer) = (code, Encoding.UTF8.GetBytes(text));
                }

                var header = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} {(status == 200 ? "OK" : "Internal Server Error")}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nContent-Length: {answer.Length}\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(header, _stop.Token);
                await stream.WriteAsync(answer, _stop.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or InvalidOperationException)
            {
                // The client went away.
            }
        }
    }

    private async Task<(string Head, string Body)> ReadRequestAsync(NetworkStream stream)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        int headEnd = -1;
        while (headEnd < 0)
        {
            int read = await stream.ReadAsync(buffer, _stop.Token);
            if (read == 0)
            {
                throw new IOException("closed before the request's head ended");
            }

            received.AddRange(buffer.AsSpan(0, read));
            headEnd = Encoding.ASCII.GetString([.. received]).IndexOf("\r\n\r\n", StringComparison.Ordinal);
        }

        var head = Encoding.ASCII.GetString([.. received], 0, headEnd);
        var lengthLine = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        int length = lengthLine is null ? 0 : int.Parse(lengthLine[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        while (received.Count < headEnd + 4 + length)
        {
            int read = await stream.ReadAsync(buffer, _stop.Token);
            if (read == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, read));
        }

        return (head, Encoding.UTF8.GetString([.. received], headEnd + 4, Math.Max(0, received.Count - headEnd - 4)));
    }
}
