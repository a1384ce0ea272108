using System.Globalization;
using System.Net;
using System.Net.Sockets;
using OmniStore.Internal;

namespace OmniStore.Transport.Internal;

/// <summary>
/// The one parser of node addresses, for the library, the <c>omnistore</c> command and the C API
/// alike, so that an address reads the same, and a bad one fails with the same message, wherever
/// it is given. The grammar is in docs/architecture.md, "Addresses".
/// </summary>
/// <remarks>
/// Everything here treats its input as hostile: lengths and counts are bounded before anything is
/// split or allocated per element, and text quoted in a message is escaped and cut
/// (<see cref="UntrustedText"/>), so an address from the environment or a C caller cannot put
/// control characters or megabytes into a log line or a terminal.
/// </remarks>
internal static class AddressGrammar
{
    /// <summary>The longest address, in characters, once trimmed (a host name is at most 253).</summary>
    public const int MaxAddressLength = 512;

    /// <summary>The longest comma-separated list, in characters.</summary>
    public const int MaxListLength = 8192;

    /// <summary>The most addresses a list (all its sources together) may hold.</summary>
    public const int MaxListCount = 64;

    /// <summary>The longest scheme.</summary>
    public const int MaxSchemeLength = 32;

    /// <summary>The longest host name (RFC 1035).</summary>
    public const int MaxHostLength = 253;

    /// <summary>The fewest hex digits of a node id.</summary>
    public const int MinNodeIdDigits = 16;

    /// <summary>The most hex digits of a node id.</summary>
    public const int MaxNodeIdDigits = 128;

    /// <summary>The prefix of an address that names a node by its id alone.</summary>
    public const string NodeIdPrefix = "node:";

    /// <summary>How much of a bad address a message quotes.</summary>
    private const int QuotedLength = 96;

    /// <summary>
    /// Parses one endpoint, <c>SCHEME://HOST[:PORT]</c>; null when it parsed, else the full message
    /// (the address quoted, what is wrong).
    /// </summary>
    public static string? TryParseEndpoint(string? text, AddressSchemes schemes, out NodeAddress? address)
    {
        address = null;
        string element = (text ?? string.Empty).Trim();
        string? problem = TryParseElement(element, schemes, allowNodeId: false, out var endpoint, out _);
        if (problem is not null)
        {
            return NotAnAddress(where: null, element, problem);
        }

        address = endpoint;
        return null;
    }

    /// <summary>Parses one peer address (an endpoint, optionally with <c>#NODE-ID</c>, or <c>node:NODE-ID</c>); null when it parsed, else the message.</summary>
    public static string? TryParsePeer(string? text, AddressSchemes schemes, out PeerAddress? address)
    {
        address = null;
        string element = (text ?? string.Empty).Trim();
        string? problem = TryParseElement(element, schemes, allowNodeId: true, out var endpoint, out string? nodeId);
        if (problem is not null)
        {
            return NotAnAddress(where: null, element, problem);
        }

        address = new PeerAddress(endpoint, nodeId);
        return null;
    }

    /// <summary>
    /// Parses comma-separated lists of peer addresses from several sources in turn (a relay, then
    /// its fallbacks), into one list in that order. Whitespace around an element is ignored; an
    /// empty element, an address given twice (in one source or across them), a list of more than
    /// <see cref="MaxListCount"/> addresses or of more than <see cref="MaxListLength"/> characters
    /// is refused. A source's label (<c>--relay</c>, <c>$OMNISTORE_FALLBACK</c>) names it in messages;
    /// the element's position does when the source holds more than one. Null when all parsed, else
    /// the message of the first problem.
    /// </summary>
    public static string? TryParseList(IEnumerable<(string? Label, string? Text)> sources, AddressSchemes schemes, out List<PeerAddress> addresses)
    {
        addresses = [];
        var firstSeen = new Dictionary<object, string?>();
        foreach (var (label, text) in sources)
        {
            string prefix = label is null ? string.Empty : label + ": ";
            if (string.IsNullOrWhiteSpace(text))
            {
                return $"{prefix}the address list is empty";
            }

            if (text.Length > MaxListLength)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{prefix}the address list is {text.Length} characters long; at most {MaxListLength} are allowed");
            }

            string[] elements = text.Split(',');
            if (addresses.Count + elements.Length > MaxListCount)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{prefix}the address list holds {addresses.Count + elements.Length} addresses; at most {MaxListCount} are allowed");
            }

            for (int i = 0; i < elements.Length; i++)
            {
                string element = elements[i].Trim();
                string? where = Where(label, i, elements.Length);
                if (element.Length == 0)
                {
                    return $"{(where is null ? string.Empty : where + ": ")}the address is empty (two commas in a row, or one at an end)";
                }

                string? problem = TryParseElement(element, schemes, allowNodeId: true, out var endpoint, out string? nodeId);
                if (problem is not null)
                {
                    return NotAnAddress(where, element, problem);
                }

                var address = new PeerAddress(endpoint, nodeId);

                // One node dialled twice is a typo for another (and a retry of a node that just failed).
                object key = address.Endpoint ?? (object)address.NodeId!;
                if (!firstSeen.TryAdd(key, where))
                {
                    string first = firstSeen[key] is { } earlier ? $" (first as {earlier})" : string.Empty;
                    return $"{(where is null ? string.Empty : where + ": ")}'{Quote(element)}' is in the list twice{first}";
                }

                addresses.Add(address);
            }
        }

        return addresses.Count == 0 ? "the address list is empty" : null;
    }

    /// <summary>An address in a message: escaped and cut to a readable length.</summary>
    public static string Quote(string text) => UntrustedText.Escape(text, QuotedLength);

    /// <summary>A message as an exception's: its first letter upper case.</summary>
    public static OmniStoreException InvalidArgument(string message) =>
        new(OmniStoreError.InvalidArgument, message.Length > 0 && char.IsAsciiLetterLower(message[0]) ? char.ToUpperInvariant(message[0]) + message[1..] + "." : message + ".");

    /// <summary>The text of a valid address: what <see cref="NodeAddress.ToString"/> writes.</summary>
    public static string Format(NodeAddress address, AddressSchemes schemes)
    {
        string host = address.Host.Contains(':', StringComparison.Ordinal) ? $"[{address.Host}]" : address.Host;
        return address.Port == 0 && schemes.PortOptional(address.Scheme)
            ? $"{address.Scheme}://{host}"
            : string.Create(CultureInfo.InvariantCulture, $"{address.Scheme}://{host}:{address.Port}");
    }

    /// <summary>Null when <paramref name="nodeId"/> is a node id (hex digits, an even number of them, bounded), else what is wrong.</summary>
    public static string? CheckNodeId(string nodeId)
    {
        if (nodeId.Length == 0)
        {
            return "the node id is empty";
        }

        if (nodeId.Length > MaxNodeIdDigits)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the node id has {nodeId.Length} characters; a node id has {MinNodeIdDigits} to {MaxNodeIdDigits} hex digits");
        }

        int bad = nodeId.AsSpan().IndexOfAnyExcept(HexDigits);
        if (bad >= 0)
        {
            return $"the node id holds '{Quote(nodeId[bad].ToString())}'; a node id is hex digits";
        }

        return nodeId.Length < MinNodeIdDigits || nodeId.Length % 2 != 0
            ? string.Create(CultureInfo.InvariantCulture, $"the node id has {nodeId.Length} hex digits; a node id has an even number of them, {MinNodeIdDigits} to {MaxNodeIdDigits}")
            : null;
    }

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");
    private static readonly System.Buffers.SearchValues<char> SchemeCharacters = System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    private static readonly System.Buffers.SearchValues<char> DigitsAndDots = System.Buffers.SearchValues.Create("0123456789.");
    private static readonly System.Buffers.SearchValues<char> NotInAnAuthority = System.Buffers.SearchValues.Create("/?@");
    private static readonly System.Buffers.SearchValues<char> HostCharacters = System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._");

    private static string? Where(string? label, int index, int count) => (label, count) switch
    {
        (null, 1) => null,
        (null, _) => string.Create(CultureInfo.InvariantCulture, $"element {index + 1} of {count}"),
        (_, 1) => label,
        _ => string.Create(CultureInfo.InvariantCulture, $"{label}, element {index + 1} of {count}"),
    };

    private static string NotAnAddress(string? where, string element, string problem) =>
        $"{(where is null ? string.Empty : where + ": ")}'{Quote(element)}' is not a node address: {problem}";

    /// <summary>One trimmed element: null when it parsed, else what is wrong with it.</summary>
    private static string? TryParseElement(string element, AddressSchemes schemes, bool allowNodeId, out NodeAddress? endpoint, out string? nodeId)
    {
        endpoint = null;
        nodeId = null;
        if (element.Length == 0)
        {
            return "it is empty";
        }

        if (element.Length > MaxAddressLength)
        {
            return string.Create(CultureInfo.InvariantCulture, $"it is {element.Length} characters long; an address has at most {MaxAddressLength}");
        }

        for (int i = 0; i < element.Length; i++)
        {
            if (element[i] is <= ' ' or > '~')
            {
                return string.Create(CultureInfo.InvariantCulture, $"it holds '{Quote(element[i].ToString())}' at position {i + 1}; an address is printable ASCII without spaces");
            }
        }

        // Lists are split before their elements get here: a comma means a list where one address goes.
        if (element.Contains(',', StringComparison.Ordinal))
        {
            return "it holds ','; give one address here, not a list";
        }

        if (element.StartsWith(NodeIdPrefix, StringComparison.OrdinalIgnoreCase) && !element.StartsWith("node://", StringComparison.OrdinalIgnoreCase))
        {
            if (!allowNodeId)
            {
                return "node:ID names a node, not a host and port";
            }

            string id = element[NodeIdPrefix.Length..];
            string? idProblem = CheckNodeId(id);
            nodeId = id.ToLowerInvariant();
            return idProblem;
        }

        int separator = element.IndexOf("://", StringComparison.Ordinal);
        if (separator < 0)
        {
            return element.Contains(':', StringComparison.Ordinal) && !element.Contains('/', StringComparison.Ordinal)
                ? $"the scheme is missing: expected SCHEME://HOST:PORT, for example tcp://{Quote(element)}"
                : "expected SCHEME://HOST:PORT, for example tcp://127.0.0.1:7070";
        }

        string scheme = element[..separator];
        if (scheme.Length == 0 || scheme.Length > MaxSchemeLength || !char.IsAsciiLetter(scheme[0]) || scheme.AsSpan().ContainsAnyExcept(SchemeCharacters))
        {
            return $"'{Quote(scheme)}' is not a scheme: expected SCHEME://HOST:PORT, for example tcp://127.0.0.1:7070";
        }

        scheme = scheme.ToLowerInvariant();
        if (!schemes.Has(scheme))
        {
            return $"the scheme '{scheme}' is not supported (use {schemes.Describe()})";
        }

        string rest = element[(separator + 3)..];
        int hash = rest.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            if (!allowNodeId)
            {
                return "a node id (#ID) cannot be given here: only scheme, host and port";
            }

            string id = rest[(hash + 1)..];
            if (CheckNodeId(id) is { } idProblem)
            {
                return idProblem;
            }

            nodeId = id.ToLowerInvariant();
            rest = rest[..hash];
        }

        // A URI's trailing slash (tcp://host:7070/) is a common way of writing the same address.
        if (rest.EndsWith('/'))
        {
            rest = rest[..^1];
        }

        if (rest.AsSpan().IndexOfAny(NotInAnAuthority) is int extra and >= 0)
        {
            return $"only scheme, host and port are allowed: '{rest[extra]}' starts a {(rest[extra] == '@' ? "user name" : rest[extra] == '?' ? "query" : "path")}";
        }

        if (TryParseHostAndPort(rest, out string host, out string? port) is { } hostProblem)
        {
            return hostProblem;
        }

        int portNumber;
        if (port is null)
        {
            if (!schemes.PortOptional(scheme))
            {
                return $"the port is missing: expected {scheme}://HOST:PORT (port 0 lets a listener pick one)";
            }

            portNumber = 0;
        }
        else if (port.Length == 0)
        {
            return "the port after ':' is empty";
        }
        else if (port.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            return $"the port '{Quote(port)}' is not a number";
        }
        else if (port.Length > 5 || (portNumber = int.Parse(port, NumberStyles.None, CultureInfo.InvariantCulture)) > 65535)
        {
            return $"the port {Quote(port)} is above 65535";
        }

        endpoint = new NodeAddress(scheme, host, portNumber);
        return null;
    }

    /// <summary>
    /// Splits <c>HOST[:PORT]</c> and checks the host: a DNS name, an IPv4 address, or an IPv6
    /// address in brackets. The host comes back in its canonical form (lower case; IPv6 compressed).
    /// </summary>
    private static string? TryParseHostAndPort(string authority, out string host, out string? port)
    {
        host = string.Empty;
        port = null;
        if (authority.StartsWith('['))
        {
            int close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return "the '[' of an IPv6 address is not closed";
            }

            string literal = authority[1..close];
            if (literal.Contains('%', StringComparison.Ordinal))
            {
                return "IPv6 zone ids (%...) are not supported";
            }

            if (!IPAddress.TryParse(literal, out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return $"'[{Quote(literal)}]' is not an IPv6 address";
            }

            host = ip.ToString();
            string after = authority[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':')
                {
                    return $"only ':PORT' may follow an IPv6 address in brackets, not '{Quote(after)}'";
                }

                port = after[1..];
            }

            return null;
        }

        int colon = authority.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0 && authority.IndexOf(':', colon + 1) >= 0)
        {
            return "an IPv6 address goes in brackets, for example tcp://[::1]:7070";
        }

        string name = colon < 0 ? authority : authority[..colon];
        port = colon < 0 ? null : authority[(colon + 1)..];
        if (name.Length == 0)
        {
            return "the host is missing";
        }

        if (name.Length > MaxHostLength)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the host is {name.Length} characters long; a host name has at most {MaxHostLength}");
        }

        int bad = name.AsSpan().IndexOfAnyExcept(HostCharacters);
        if (bad >= 0)
        {
            return $"the host holds '{Quote(name[bad].ToString())}': a host is a DNS name, an IPv4 address or an IPv6 address in brackets";
        }

        if (name.StartsWith('.') || name.Contains("..", StringComparison.Ordinal))
        {
            return $"'{Quote(name)}' is not a host name: it has an empty label";
        }

        // All digits and dots: meant as an IPv4 address, so it must be one (not 300.1.1.1 or 10.1).
        if (!name.AsSpan().ContainsAnyExcept(DigitsAndDots) && !IsDottedQuad(name))
        {
            return $"'{Quote(name)}' is not an IPv4 address";
        }

        host = name.ToLowerInvariant();
        return null;
    }

    /// <summary>
    /// Whether <paramref name="name"/> is four decimal octets, each without a leading zero (which
    /// some resolvers read as octal, so 010.0.0.1 would not be the host it looks like).
    /// </summary>
    private static bool IsDottedQuad(string name)
    {
        string[] octets = name.Split('.');
        return octets.Length == 4 && octets.All(o => o.Length is >= 1 and <= 3 && (o.Length == 1 || o[0] != '0') && int.Parse(o, NumberStyles.None, CultureInfo.InvariantCulture) <= 255);
    }
}
