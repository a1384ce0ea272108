using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace OmniStore.Nat.PortMapping;

/// <summary>
/// A UPnP-IGD control point for UDP port forwarding: finds the gateway with SSDP, reads its device
/// description for the WANIPConnection (2, then 1) or WANPPPConnection service's control URL, and
/// calls GetExternalIPAddress, AddPortMapping (the internal client is this host's address toward
/// the gateway) and DeletePortMapping over SOAP. An external port that GetSpecificPortMappingEntry
/// shows forwarded elsewhere, or error 718 (ConflictInMappingEntry) or 729
/// (ConflictWithOtherMechanisms), makes it try another external port, at most <see cref="MaxPortTries"/> in all.
/// </summary>
internal sealed class UpnpIgdClient : IPortMappingProtocol
{
    /// <summary>How many external ports AddPortMapping tries when they are taken.</summary>
    public const int MaxPortTries = 8;

    /// <summary>What each forwarding is described as on the gateway.</summary>
    public const string Description = "OmniStore";

    private static readonly TimeSpan DefaultHttpTimeout = TimeSpan.FromSeconds(5);

    private readonly HttpClient _http;

    private UpnpIgdClient(HttpClient http, Uri controlUrl, string serviceType, IPAddress internalClient)
    {
        _http = http;
        ControlUrl = controlUrl;
        ServiceType = serviceType;
        InternalClient = internalClient;
    }

    /// <inheritdoc/>
    public PortMappingMethods Method => PortMappingMethods.Upnp;

    /// <summary>The WAN connection service's control URL.</summary>
    public Uri ControlUrl { get; }

    /// <summary>The service's type (a search target of <see cref="SsdpMessage.SearchTargets"/>).</summary>
    public string ServiceType { get; }

    /// <summary>This host's address toward the gateway: the internal client of every forwarding.</summary>
    public IPAddress InternalClient { get; }

    /// <summary>
    /// Sends M-SEARCHes for the WAN connection services to <paramref name="ssdpTarget"/> (SSDP's
    /// multicast group on a real network, a fake server's address in tests) at once and after a
    /// second, and takes the first gateway whose answer and description read; answers that do not
    /// are skipped (the last reason is named when none did).
    /// </summary>
    /// <param name="createSocket">Makes the UDP socket of the search and the TCP sockets of HTTP.</param>
    /// <param name="ssdpTarget">Where M-SEARCHes go. Defaults to <see cref="SsdpMessage.MulticastEndPoint"/>.</param>
    /// <param name="timeout">How long to search, description fetches included.</param>
    /// <param name="httpTimeout">The limit of one HTTP exchange. Defaults to 5 s.</param>
    /// <param name="cancellationToken">Stops the search.</param>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> when no gateway answered; <see cref="OmniStoreError.ProtocolError"/> when only unusable answers came.</exception>
    public static async Task<UpnpIgdClient> DiscoverAsync(SocketFactory createSocket, IPEndPoint? ssdpTarget, TimeSpan timeout, TimeSpan? httpTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(createSocket);
        ssdpTarget ??= SsdpMessage.MulticastEndPoint;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        using var socket = createSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        if (!socket.IsBound)
        {
            socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        }

        if (ssdpTarget.Address.GetAddressBytes()[0] is >= 224 and <= 239)
        {
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 2); // the gateway is one hop away
        }

        var searches = SsdpMessage.SearchTargets.Select(st => SsdpMessage.EncodeSearch(st, 1)).ToArray();
        var resend = SendSearchesAsync(socket, ssdpTarget, searches, deadline.Token);
        var tried = new HashSet<Uri>();
        string? lastProblem = null;
        var buffer = new byte[SsdpMessage.MaxResponseSize + 1];
        try
        {
            while (true)
            {
                var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), deadline.Token).ConfigureAwait(false);
                var from = ((IPEndPoint)received.RemoteEndPoint).Address;
                if (SsdpMessage.TryParse(buffer.AsSpan(0, received.ReceivedBytes), from, out var problem) is not { } answer)
                {
                    lastProblem = problem;
                    continue;
                }

                if (!tried.Add(answer.Location))
                {
                    continue;
                }

                var http = CreateHttpClient(createSocket, httpTimeout ?? DefaultHttpTimeout);
                try
                {
                    var description = await GetBoundedAsync(http, answer.Location, UpnpXml.MaxDescriptionBytes, deadline.Token).ConfigureAwait(false);
                    var (controlUrl, serviceType) = UpnpXml.ReadDescription(description, answer.Location);
                    var internalClient = LocalAddressToward(createSocket, new IPEndPoint(IPAddress.Parse(controlUrl.Host), controlUrl.Port));
                    return new UpnpIgdClient(http, controlUrl, serviceType, internalClient);
                }
                catch (OmniStoreException e)
                {
                    lastProblem = e.Message;
                    http.Dispose();
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (resend.IsFaulted && resend.Exception?.InnerException is SocketException sendFailure)
            {
                lastProblem ??= $"the search could not be sent ({sendFailure.Message})";
            }

            if (lastProblem is not null)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"No usable UPnP gateway answered the search sent to {ssdpTarget} within {timeout.TotalSeconds:0.#} s; the last answer was refused: {lastProblem}");
            }

            throw new OmniStoreException(OmniStoreError.Unavailable, $"No UPnP gateway answered the search sent to {ssdpTarget} within {timeout.TotalSeconds:0.#} s.");
        }
        finally
        {
            await deadline.CancelAsync().ConfigureAwait(false);
            try
            {
                await resend.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The search is over.
            }
        }
    }

    /// <summary>The gateway's external address (GetExternalIPAddress).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Unavailable"/> when the gateway has none or cannot be reached; <see cref="OmniStoreError.ProtocolError"/> for a fault or an answer that does not read.</exception>
    public async Task<IPAddress> GetExternalAddressAsync(CancellationToken cancellationToken = default)
    {
        var answer = await CallAsync("GetExternalIPAddress", [], cancellationToken).ConfigureAwait(false);
        ThrowIfFault(answer, "GetExternalIPAddress");
        if (!answer.Values.TryGetValue("NewExternalIPAddress", out var text) || text.Length == 0)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The UPnP gateway {ControlUrl.AbsoluteUri} has no external address (GetExternalIPAddress answered none).");
        }

        if (!IPAddress.TryParse(text, out var address) || address.AddressFamily != AddressFamily.InterNetwork || text.Length > 15 || address.Equals(IPAddress.Any))
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"The UPnP gateway {ControlUrl.AbsoluteUri} gave '{Internal.UntrustedText.Escape(text, 60)}' as its external address, not an IPv4 address.");
        }

        return address;
    }

    /// <summary>
    /// Forwards external UDP port <paramref name="suggestedExternalPort"/> (another when it is taken)
    /// to <paramref name="internalPort"/> on <see cref="InternalClient"/> for <paramref name="lifetime"/>
    /// (AddPortMapping; asking again for the same ports renews it).
    /// </summary>
    /// <exception cref="OmniStoreException">As for <see cref="GetExternalAddressAsync"/>; <see cref="OmniStoreError.Unavailable"/> when every port tried was taken.</exception>
    public async Task<PortMappingLease> MapAsync(int internalPort, int suggestedExternalPort, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(internalPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(internalPort, 65535);
        var external = await GetExternalAddressAsync(cancellationToken).ConfigureAwait(false);
        uint seconds = (uint)Math.Clamp(Math.Ceiling(lifetime.TotalSeconds), 1, 604800); // IGDv2 caps leases at a week
        int port = suggestedExternalPort is > 0 and <= 65535 ? suggestedExternalPort : internalPort;
        var tried = new List<int>();
        for (int attempt = 0; attempt < MaxPortTries; attempt++)
        {
            tried.Add(port);
            if (await HeldByAnotherAsync(port, internalPort, cancellationToken).ConfigureAwait(false))
            {
                port = OtherPort(tried);
                continue;
            }

            var answer = await CallAsync(
                "AddPortMapping",
                [
                    ("NewRemoteHost", ""),
                    ("NewExternalPort", Invariant(port)),
                    ("NewProtocol", "UDP"),
                    ("NewInternalPort", Invariant(internalPort)),
                    ("NewInternalClient", InternalClient.ToString()),
                    ("NewEnabled", "1"),
                    ("NewPortMappingDescription", Description),
                    ("NewLeaseDuration", Invariant(seconds)),
                ],
                cancellationToken).ConfigureAwait(false);
            if (answer.ErrorCode is 718 or 729)
            {
                port = OtherPort(tried);
                continue;
            }

            ThrowIfFault(answer, "AddPortMapping");
            return new PortMappingLease(Method, new IPEndPoint(external, port), internalPort, TimeSpan.FromSeconds(seconds));
        }

        throw new OmniStoreException(OmniStoreError.Unavailable, $"The UPnP gateway {ControlUrl.AbsoluteUri} had every external port tried taken ({string.Join(", ", tried)}).");
    }

    /// <summary>
    /// Whether external <paramref name="externalPort"/> already forwards to another port or host
    /// (GetSpecificPortMappingEntry). AddPortMapping does not say: for the same internal client the
    /// IGD templates (WANIPConnection:1 section 2.4.16, :2 likewise) overwrite the existing mapping,
    /// so a second node on this host would silently take the first one's port. A gateway that does
    /// not answer the query (no such action, another fault) is taken at its AddPortMapping's word.
    /// </summary>
    private async Task<bool> HeldByAnotherAsync(int externalPort, int internalPort, CancellationToken cancellationToken)
    {
        var answer = await CallAsync(
            "GetSpecificPortMappingEntry",
            [("NewRemoteHost", ""), ("NewExternalPort", Invariant(externalPort)), ("NewProtocol", "UDP")],
            cancellationToken).ConfigureAwait(false);
        if (answer.ErrorCode is not null)
        {
            return false; // 714 NoSuchEntryInArray: free
        }

        bool samePort = answer.Values.TryGetValue("NewInternalPort", out var port) && port == Invariant(internalPort);
        bool sameClient = answer.Values.TryGetValue("NewInternalClient", out var client) && IPAddress.TryParse(client, out var address) && address.Equals(InternalClient);
        return !(samePort && sameClient);
    }

    /// <summary>Removes a forwarding (DeletePortMapping).</summary>
    /// <exception cref="OmniStoreException">As for <see cref="GetExternalAddressAsync"/>.</exception>
    public async Task UnmapAsync(PortMappingLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var answer = await CallAsync(
            "DeletePortMapping",
            [("NewRemoteHost", ""), ("NewExternalPort", Invariant(lease.PublicEndPoint.Port)), ("NewProtocol", "UDP")],
            cancellationToken).ConfigureAwait(false);
        ThrowIfFault(answer, "DeletePortMapping");
    }

    /// <summary>Releases the HTTP client.</summary>
    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The SOAP envelope of a call (UPnP Device Architecture 1.1 section 3.2.1); values are escaped.</summary>
    internal static string EncodeSoapRequest(string serviceType, string action, IEnumerable<(string Name, string Value)> arguments)
    {
        var body = new StringBuilder();
        body.Append("<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>");
        body.Append(CultureInfo.InvariantCulture, $"<u:{action} xmlns:u=\"{System.Security.SecurityElement.Escape(serviceType)}\">");
        foreach (var (name, value) in arguments)
        {
            body.Append(CultureInfo.InvariantCulture, $"<{name}>{System.Security.SecurityElement.Escape(value)}</{name}>");
        }

        body.Append(CultureInfo.InvariantCulture, $"</u:{action}></s:Body></s:Envelope>\r\n");
        return body.ToString();
    }

    private async Task<SoapAnswer> CallAsync(string action, IEnumerable<(string Name, string Value)> arguments, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, ControlUrl)
        {
            Content = new StringContent(EncodeSoapRequest(ServiceType, action, arguments), Encoding.UTF8),
        };
        request.Content.Headers.Remove("Content-Type");
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "text/xml; charset=\"utf-8\"");
        request.Headers.TryAddWithoutValidation("SOAPAction", $"\"{ServiceType}#{action}\"");
        byte[] body;
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.InternalServerError)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"The UPnP gateway {ControlUrl.AbsoluteUri} answered {action} with HTTP status {(int)response.StatusCode}.");
            }

            body = await ReadBoundedAsync(response, UpnpXml.MaxSoapBytes, ControlUrl, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The UPnP gateway {ControlUrl.AbsoluteUri} could not be asked {action}: {Internal.UntrustedText.Escape(e.Message, 200)}", e);
        }

        return UpnpXml.ReadSoapAnswer(body, action, ControlUrl);
    }

    private void ThrowIfFault(SoapAnswer answer, string action)
    {
        if (answer.ErrorCode is { } code)
        {
            var error = code is 501 or 728 ? OmniStoreError.Unavailable : OmniStoreError.ProtocolError;
            throw new OmniStoreException(error, $"The UPnP gateway {ControlUrl.AbsoluteUri} refused {action}: error {code} ({answer.ErrorDescription}).");
        }
    }

    private static HttpClient CreateHttpClient(SocketFactory createSocket, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            MaxResponseHeadersLength = 16, // KiB
            ConnectTimeout = timeout,
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
            ConnectCallback = async (context, cancellationToken) =>
            {
                // The socket is made by the factory (in the right network namespace), then connected.
                var socket = createSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.NoDelay = true;
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler, disposeHandler: true) { Timeout = timeout };
    }

    private static async Task<byte[]> GetBoundedAsync(HttpClient http, Uri location, int maxBytes, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync(location, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"The UPnP gateway answered GET {location.AbsoluteUri} with HTTP status {(int)response.StatusCode}.");
            }

            return await ReadBoundedAsync(response, maxBytes, location, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The device description at {location.AbsoluteUri} could not be read: {Internal.UntrustedText.Escape(e.Message, 200)}", e);
        }
    }

    /// <summary>Reads a body of at most <paramref name="maxBytes"/>: one byte more is an error, so a larger body is never buffered.</summary>
    private static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, int maxBytes, Uri from, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > maxBytes)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"The answer from {from.AbsoluteUri} announces {response.Content.Headers.ContentLength} bytes (more than {maxBytes} bytes are not read).");
        }

        using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[maxBytes + 1];
        int filled = 0;
        while (filled < buffer.Length)
        {
            int read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return buffer[..filled];
            }

            filled += read;
        }

        throw new OmniStoreException(OmniStoreError.ProtocolError, $"The answer from {from.AbsoluteUri} holds more than {maxBytes} bytes.");
    }

    private static async Task SendSearchesAsync(Socket socket, IPEndPoint target, byte[][] searches, CancellationToken cancellationToken)
    {
        for (int round = 0; round < 3; round++)
        {
            foreach (var search in searches)
            {
                await socket.SendToAsync(search, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false); // SSDP is UDP: ask again in case the first was lost
        }
    }

    /// <summary>The local address a socket made by <paramref name="createSocket"/> would send from to <paramref name="remote"/> (a UDP connect: nothing is sent).</summary>
    internal static IPAddress LocalAddressToward(SocketFactory createSocket, IPEndPoint remote)
    {
        using var probe = createSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(remote);
        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }

    private static int OtherPort(List<int> tried)
    {
        while (true)
        {
            int port = RandomNumberGenerator.GetInt32(1024, 65536);
            if (!tried.Contains(port))
            {
                return port;
            }
        }
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
