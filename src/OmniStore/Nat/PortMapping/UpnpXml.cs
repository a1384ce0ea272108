using System.Xml;
using System.Xml.Linq;

namespace OmniStore.Nat.PortMapping;

/// <summary>A SOAP answer, as read: the action's output arguments, or the UPnP error it failed with.</summary>
/// <param name="Values">The output arguments by name (success only).</param>
/// <param name="ErrorCode">The UPnPError's errorCode (failure only).</param>
/// <param name="ErrorDescription">Its errorDescription, escaped (failure only).</param>
internal sealed record SoapAnswer(IReadOnlyDictionary<string, string> Values, int? ErrorCode, string? ErrorDescription);

/// <summary>
/// The XML of UPnP-IGD: the device description (where the WAN connection service's control URL is)
/// and SOAP answers. Read as hostile: at most the given number of characters, no DTD (refused, not
/// ignored), no external resolution, and every value used is checked and escaped before it is shown
/// (URLs as <see cref="Uri.AbsoluteUri"/>: percent-encoded, so nothing in them can reach a terminal raw).
/// </summary>
internal static class UpnpXml
{
    /// <summary>The most a device description may hold.</summary>
    public const int MaxDescriptionBytes = 64 * 1024;

    /// <summary>The most a SOAP answer may hold.</summary>
    public const int MaxSoapBytes = 16 * 1024;

    /// <summary>
    /// Finds, in a device description fetched from <paramref name="location"/>, the first service of
    /// a type searched for (<see cref="SsdpMessage.SearchTargets"/>, in that order), and its control
    /// URL, resolved against URLBase or the location; the control URL must be http on the
    /// description's host and port's host (the same address).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.ProtocolError"/>: not XML, a DTD, too large, no such service, or a control URL elsewhere.</exception>
    public static (Uri ControlUrl, string ServiceType) ReadDescription(ReadOnlySpan<byte> xml, Uri location)
    {
        var document = Load(xml, MaxDescriptionBytes, $"the device description at {location.AbsoluteUri}");
        var root = document.Root!;
        var baseUri = location;
        if (root.Elements().FirstOrDefault(e => e.Name.LocalName == "URLBase") is { } urlBase)
        {
            if (!Uri.TryCreate(urlBase.Value.Trim(), UriKind.Absolute, out var declared) || !SameHost(declared, location))
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"The device description at {location.AbsoluteUri} names URLBase '{Internal.UntrustedText.Escape(urlBase.Value, 200)}', not an http URL on {location.Host}.");
            }

            baseUri = declared;
        }

        var services = root.Descendants().Where(e => e.Name.LocalName == "service").ToList();
        foreach (var wanted in SsdpMessage.SearchTargets)
        {
            foreach (var service in services)
            {
                var type = Child(service, "serviceType");
                if (!string.Equals(type, wanted, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                var control = Child(service, "controlURL");
                if (control is null || !Uri.TryCreate(baseUri, control, out var controlUrl) || !SameHost(controlUrl, location))
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, $"The device description at {location.AbsoluteUri} gives {wanted} the control URL '{Internal.UntrustedText.Escape(control, 200)}', not an http URL on {location.Host}.");
                }

                return (controlUrl, wanted);
            }
        }

        throw new OmniStoreException(OmniStoreError.ProtocolError, $"The device description at {location.AbsoluteUri} has no WANIPConnection or WANPPPConnection service.");
    }

    /// <summary>Reads the answer to <paramref name="action"/>: its output arguments, or the UPnPError of a SOAP fault.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.ProtocolError"/>: not XML, a DTD, too large, or neither the action's response nor a UPnP fault.</exception>
    public static SoapAnswer ReadSoapAnswer(ReadOnlySpan<byte> xml, string action, Uri controlUrl)
    {
        var document = Load(xml, MaxSoapBytes, $"the answer of {controlUrl.AbsoluteUri} to {action}");
        var elements = document.Root!.DescendantsAndSelf();
        if (elements.FirstOrDefault(e => e.Name.LocalName == action + "Response") is { } response)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var argument in response.Elements())
            {
                values.TryAdd(argument.Name.LocalName, argument.Value.Trim());
            }

            return new SoapAnswer(values, null, null);
        }

        if (elements.FirstOrDefault(e => e.Name.LocalName == "UPnPError") is { } error &&
            int.TryParse(Child(error, "errorCode"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int code) && code is > 0 and < 1000)
        {
            return new SoapAnswer(new Dictionary<string, string>(), code, Internal.UntrustedText.Escape(Child(error, "errorDescription"), 200));
        }

        throw new OmniStoreException(OmniStoreError.ProtocolError, $"The answer of {controlUrl.AbsoluteUri} to {action} is neither its response nor a UPnP fault with an error code.");
    }

    private static XDocument Load(ReadOnlySpan<byte> xml, int maxBytes, string what)
    {
        if (xml.Length > maxBytes)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{Capitalize(what)} holds more than {maxBytes} bytes.");
        }

        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit, // a DTD is refused: no entity expansion, nothing fetched
            XmlResolver = null,
            MaxCharactersInDocument = maxBytes,
            MaxCharactersFromEntities = 1024,
            IgnoreComments = true,
            IgnoreProcessingInstructions = true,
            CloseInput = true,
        };
        try
        {
            using var stream = new MemoryStream(xml.ToArray(), writable: false);
            using var reader = XmlReader.Create(stream, settings);
            return XDocument.Load(reader, LoadOptions.None);
        }
        catch (XmlException e)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"{Capitalize(what)} is not XML this client reads: {Internal.UntrustedText.Escape(e.Message, 200)}");
        }
    }

    private static string? Child(XElement parent, string localName) =>
        parent.Elements().FirstOrDefault(e => e.Name.LocalName == localName)?.Value.Trim();

    private static bool SameHost(Uri candidate, Uri location) =>
        candidate.IsAbsoluteUri && candidate.Scheme == Uri.UriSchemeHttp && candidate.HostNameType == UriHostNameType.IPv4 &&
        string.Equals(candidate.Host, location.Host, StringComparison.Ordinal);

    private static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
