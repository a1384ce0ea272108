using FsCheck;
using FsCheck.Fluent;
using OmniStore.Transport;
using OmniStore.Transport.Internal;

namespace OmniStore.Tests.Transport;

/// <summary>The one address parser: its grammar, its messages, and what it does with hostile text.</summary>
public sealed class AddressGrammarTests
{
    private static readonly AddressSchemes WithMemory = new(["tcp", "mem"], ["mem"]);
    private const string Id = "00112233aabbccdd";

    [Theory]
    [InlineData("tcp://127.0.0.1:7070", "tcp", "127.0.0.1", 7070)]
    [InlineData("TCP://Relay.Example.ORG:7070", "tcp", "relay.example.org", 7070)]
    [InlineData("  tcp://relay:0\t", "tcp", "relay", 0)]
    [InlineData("tcp://relay:7070/", "tcp", "relay", 7070)]
    [InlineData("tcp://node_3.cluster-a:65535", "tcp", "node_3.cluster-a", 65535)]
    [InlineData("tcp://relay:00080", "tcp", "relay", 80)]
    [InlineData("tcp://[::1]:7070", "tcp", "::1", 7070)]
    [InlineData("tcp://[2001:DB8:0:0:0:0:0:1]:7070", "tcp", "2001:db8::1", 7070)]
    [InlineData("tcp://[::ffff:10.0.0.1]:1", "tcp", "::ffff:10.0.0.1", 1)]
    public void Parse_AValidAddress_GivesItsCanonicalParts(string text, string scheme, string host, int port)
    {
        var address = NodeAddress.Parse(text);

        Assert.Equal(new NodeAddress(scheme, host, port), address);
        Assert.Equal(address, NodeAddress.Parse(address.ToString()));
    }

    [Theory]
    [InlineData("", "it is empty")]
    [InlineData("   ", "it is empty")]
    [InlineData("127.0.0.1:7070", "the scheme is missing: expected SCHEME://HOST:PORT, for example tcp://127.0.0.1:7070")]
    [InlineData("relay", "expected SCHEME://HOST:PORT")]
    [InlineData("udp://relay:7070", "the scheme 'udp' is not supported (use mem://, rudp://, tcp://, tls+rudp://, tls+tcp://)")]
    [InlineData("1tcp://relay:7070", "'1tcp' is not a scheme")]
    [InlineData("://relay:7070", "'' is not a scheme")]
    [InlineData("tcp://relay", "the port is missing")]
    [InlineData("tcp://relay:", "the port after ':' is empty")]
    [InlineData("tcp://relay:http", "the port 'http' is not a number")]
    [InlineData("tcp://relay:-1", "the port '-1' is not a number")]
    [InlineData("tcp://relay:65536", "the port 65536 is above 65535")]
    [InlineData("tcp://relay:99999999999999999999", "is above 65535")]
    [InlineData("tcp://:7070", "the host is missing")]
    [InlineData("tcp://::1:7070", "an IPv6 address goes in brackets")]
    [InlineData("tcp://[::1:7070", "the '[' of an IPv6 address is not closed")]
    [InlineData("tcp://[fe80::1%eth0]:7070", "zone ids")]
    [InlineData("tcp://[10.0.0.1]:7070", "'[10.0.0.1]' is not an IPv6 address")]
    [InlineData("tcp://[relay]:7070", "'[relay]' is not an IPv6 address")]
    [InlineData("tcp://[::1]7070", "only ':PORT' may follow an IPv6 address in brackets")]
    [InlineData("tcp://300.1.1.1:7070", "'300.1.1.1' is not an IPv4 address")]
    [InlineData("tcp://10.1:7070", "'10.1' is not an IPv4 address")]
    [InlineData("tcp://010.0.0.1:7070", "'010.0.0.1' is not an IPv4 address")]
    [InlineData("tcp://relay..example:7070", "it has an empty label")]
    [InlineData("tcp://re!ay:7070", "the host holds '!'")]
    [InlineData("tcp://relay:7070/path", "'/' starts a path")]
    [InlineData("tcp://relay:7070?x=1", "'?' starts a query")]
    [InlineData("tcp://user@relay:7070", "'@' starts a user name")]
    [InlineData("tcp://re lay:7070", "it holds ' ' at position 9; an address is printable ASCII without spaces")]
    [InlineData("tcp://relay:7070#00112233aabbccdd", "a node id (#ID) cannot be given here")]
    [InlineData("node:00112233aabbccdd", "node:ID names a node, not a host and port")]
    [InlineData("tcp://a:1,tcp://b:2", "it holds ','; give one address here, not a list")]
    public void Parse_ABadAddress_IsInvalidArgumentSayingWhatIsWrong(string text, string problem)
    {
        var error = Assert.Throws<OmniStoreException>(() => NodeAddress.Parse(text));

        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.Contains($"'{AddressGrammar.Quote(text.Trim())}' is not a node address: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.False(NodeAddress.TryParse(text, out _, out string? message));
        Assert.Equal(error.Message, char.ToUpperInvariant(message[0]) + message[1..] + ".");
    }

    [Fact]
    public void AHostOnlyScheme_MayLeaveThePortOut_AndPrintsWithoutIt()
    {
        Assert.Null(AddressGrammar.TryParseEndpoint("mem://Node-A", WithMemory, out var address));
        Assert.Equal(new NodeAddress("mem", "node-a", 0), address);
        Assert.Equal("mem://node-a", AddressGrammar.Format(address!, WithMemory));

        Assert.Null(AddressGrammar.TryParseEndpoint("mem://node-a:9", WithMemory, out var withPort));
        Assert.Equal(9, withPort!.Port);

        // Only the scheme that says so: tcp still needs its port.
        Assert.Contains("the port is missing", AddressGrammar.TryParseEndpoint("tcp://relay", WithMemory, out _), StringComparison.Ordinal);

        // A build without the in-memory transport does not take its addresses.
        Assert.Contains("the scheme 'mem' is not supported", AddressGrammar.TryParseEndpoint("mem://node-a", new AddressSchemes(["tcp"], []), out _), StringComparison.Ordinal);
    }

    [Fact]
    public void APeerAddress_NamesANodeById_WithOrWithoutAnEndpoint()
    {
        var pinned = PeerAddress.Parse("tcp://Relay:7070#00112233AABBCCDD");
        Assert.Equal(new NodeAddress("tcp", "relay", 7070), pinned.Endpoint);
        Assert.Equal(Id, pinned.NodeId);
        Assert.Equal($"tcp://relay:7070#{Id}", pinned.ToString());

        var byId = PeerAddress.Parse($"NODE:{Id}");
        Assert.Null(byId.Endpoint);
        Assert.Equal(Id, byId.NodeId);
        Assert.Equal($"node:{Id}", byId.ToString());

        var plain = PeerAddress.Parse("tcp://relay:7070");
        Assert.Null(plain.NodeId);
        Assert.Equal("tcp://relay:7070", plain.ToString());

        foreach (var address in new[] { pinned, byId, plain })
        {
            Assert.Equal(address, PeerAddress.Parse(address.ToString()));
        }
    }

    [Theory]
    [InlineData("tcp://relay:7070#", "the node id is empty")]
    [InlineData("node:", "the node id is empty")]
    [InlineData("tcp://relay:7070#00112233aabbccdx", "the node id holds 'x'; a node id is hex digits")]
    [InlineData("tcp://relay:7070#0011", "the node id has 4 hex digits; a node id has an even number of them, 16 to 128")]
    [InlineData("node:00112233aabbccdde", "has 17 hex digits")]
    [InlineData("node://00112233aabbccdd", "the scheme 'node' is not supported")]
    public void APeerAddress_WithABadNodeId_SaysWhatIsWrong(string text, string problem)
    {
        var error = Assert.Throws<OmniStoreException>(() => PeerAddress.Parse(text));

        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ANodeIdLongerThanTheBound_IsRefusedWithoutBeingQuotedWhole()
    {
        string id = new('a', PeerAddress.MaxNodeIdLength + 2);

        var error = Assert.Throws<OmniStoreException>(() => PeerAddress.Parse("node:" + id));

        Assert.Contains("the node id has 130 characters", error.Message, StringComparison.Ordinal);
        Assert.True(error.Message.Length < 300, error.Message);
        Assert.NotNull(new PeerAddress(null, new string('A', PeerAddress.MaxNodeIdLength)).NodeId);
        Assert.Equal(OmniStoreError.InvalidArgument, Assert.Throws<OmniStoreException>(() => new PeerAddress(null, null)).Error);
        Assert.Equal(OmniStoreError.InvalidArgument, Assert.Throws<OmniStoreException>(() => new PeerAddress(null, id)).Error);
    }

    [Fact]
    public void AList_IsParsedInOrder_WithWhitespaceAroundElementsIgnored()
    {
        var list = PeerAddress.ParseList(" tcp://relay:7070 ,\ttcp://[::1]:7071,\nnode:" + Id + " ");

        Assert.Equal(["tcp://relay:7070", "tcp://[::1]:7071", "node:" + Id], list.Select(a => a.ToString()));
        Assert.Single(PeerAddress.ParseList("tcp://relay:7070"));
    }

    [Theory]
    [InlineData("", "The address list is empty.")]
    [InlineData(" , ", "Element 1 of 2: the address is empty (two commas in a row, or one at an end).")]
    [InlineData("tcp://a:1,,tcp://b:2", "Element 2 of 3: the address is empty")]
    [InlineData("tcp://a:1,", "Element 2 of 2: the address is empty")]
    [InlineData("tcp://a:1,udp://b:2", "Element 2 of 2: 'udp://b:2' is not a node address: the scheme 'udp' is not supported (use mem://, rudp://, tcp://, tls+rudp://, tls+tcp://).")]
    [InlineData("tcp://a:1,TCP://A:1", "Element 2 of 2: 'TCP://A:1' is in the list twice (first as element 1 of 2).")]
    [InlineData("tcp://a:1#00112233aabbccdd,tcp://a:1", "Element 2 of 2: 'tcp://a:1' is in the list twice")]
    [InlineData("tcp://[::1]:1,tcp://[0:0::1]:1", "is in the list twice")]
    [InlineData("tcp://a:1 tcp://b:2", "'tcp://a:1 tcp://b:2' is not a node address: it holds ' ' at position 10")]
    public void ABadList_NamesTheElementAndWhatIsWrong(string text, string expected)
    {
        var error = Assert.Throws<OmniStoreException>(() => PeerAddress.ParseList(text));

        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AListFromSeveralSources_NamesTheSource_AndFindsDuplicatesAcrossThem()
    {
        var sources = new (string?, string?)[] { ("$OMNISTORE_RELAY", "tcp://relay:7070"), ("$OMNISTORE_FALLBACK", "tcp://root:7070, tcp://relay:7070") };

        string? error = AddressGrammar.TryParseList(sources, AddressSchemes.Default, out _);
        Assert.Equal("$OMNISTORE_FALLBACK, element 2 of 2: 'tcp://relay:7070' is in the list twice (first as $OMNISTORE_RELAY)", error);

        error = AddressGrammar.TryParseList([("--relay", "tcp://relay"), ("--fallback", "tcp://root:7070")], AddressSchemes.Default, out _);
        Assert.StartsWith("--relay: 'tcp://relay' is not a node address: the port is missing", error, StringComparison.Ordinal);

        Assert.Null(AddressGrammar.TryParseList([("--relay", "tcp://relay:1"), ("--fallback", "tcp://root:1,tcp://other:1")], AddressSchemes.Default, out var all));
        Assert.Equal(3, all.Count);
    }

    [Fact]
    public void AListLongerThanTheBounds_IsRefusedBeforeItsElementsAreParsed()
    {
        string many = string.Join(',', Enumerable.Range(1, PeerAddress.MaxListCount + 1).Select(i => $"tcp://h{i}:1"));
        Assert.Contains("holds 65 addresses; at most 64 are allowed", Assert.Throws<OmniStoreException>(() => PeerAddress.ParseList(many)).Message, StringComparison.Ordinal);
        Assert.Equal(PeerAddress.MaxListCount, PeerAddress.ParseList(string.Join(',', Enumerable.Range(1, PeerAddress.MaxListCount).Select(i => $"tcp://h{i}:1"))).Count);

        // A million commas or characters: refused by length, the message short.
        foreach (string huge in new[] { new string(',', 1_000_000), new string('a', 1_000_000), "tcp://" + new string('a', 1_000_000) + ":1" })
        {
            var error = Assert.Throws<OmniStoreException>(() => PeerAddress.ParseList(huge));
            Assert.Contains("characters long", error.Message, StringComparison.Ordinal);
            Assert.True(error.Message.Length < 200, error.Message);

            error = Assert.Throws<OmniStoreException>(() => NodeAddress.Parse(huge));
            Assert.True(error.Message.Length < 400, error.Message);
        }
    }

    [Fact]
    public void ControlCharacters_AreEscapedInMessages()
    {
        var error = Assert.Throws<OmniStoreException>(() => NodeAddress.Parse("tcp://relay\u001b[2J\r\n:7070"));

        Assert.Contains("\\x1B[2J\\r\\n", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(error.Message, c => char.IsControl(c));

        var inList = Assert.Throws<OmniStoreException>(() => PeerAddress.ParseList("tcp://a:1,tcp://b\u0007:1,tcp://\u202Eevil:1"));
        Assert.Contains("Element 2 of 3: 'tcp://b\\x07:1'", inList.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryString_ParsesOrGivesAShortPrintableMessage_NeverAnotherException()
    {
        var text = Gen.OneOf(
            ArbMap.Default.GeneratorFor<string>(),
            Gen.Elements("tcp://", "[", "]", ":", "#", ",", "node:", "::1", "7070", "a.b", "%", "/", "\u0000", "\u202E", " ", "ff")
                .ArrayOf().Select(parts => string.Concat(parts)));

        Prop.ForAll(text.ToArbitrary(), s =>
        {
            foreach (string? error in new[]
            {
                AddressGrammar.TryParseList([(null, s)], AddressSchemes.Default, out _),
                AddressGrammar.TryParseEndpoint(s, WithMemory, out _),
                AddressGrammar.TryParsePeer(s, AddressSchemes.Default, out _),
            })
            {
                if (error is not null && (error.Length > 600 || error.Any(char.IsControl)))
                {
                    return false;
                }
            }

            return true;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void EveryAddress_ParsesBackFromItsText()
    {
        var label = Gen.Elements("a", "relay", "node-7", "x_y", "0", "cluster-a").ArrayOf().Where(l => l.Length > 0).Select(l => string.Join('-', l));
        var name = label.ArrayOf().Where(l => l.Length is > 0 and < 5).Select(l => string.Join('.', l)).Where(n => n.Any(char.IsAsciiLetter) && n.Length <= AddressGrammar.MaxHostLength);
        var ipv4 = Gen.Choose(0, 255).ArrayOf(4).Select(o => string.Join('.', o));
        var ipv6 = Gen.Choose(0, 0xffff).ArrayOf(8).Select(g => System.Net.IPAddress.Parse(string.Join(':', g.Select(x => x.ToString("x", System.Globalization.CultureInfo.InvariantCulture)))).ToString());
        var endpoint =
            from host in Gen.OneOf(name, ipv4, ipv6)
            from port in Gen.Choose(0, 65535)
            select new NodeAddress("tcp", host.ToLowerInvariant(), port);
        var nodeId = Gen.Choose(PeerAddress.MinNodeIdLength / 2, PeerAddress.MaxNodeIdLength / 2)
            .SelectMany(n => Gen.Choose(0, 255).ArrayOf(n))
            .Select(bytes => Convert.ToHexStringLower([.. bytes.Select(b => (byte)b)]));
        var peer = Gen.OneOf(
            endpoint.Select(e => new PeerAddress(e)),
            from e in endpoint from id in nodeId select new PeerAddress(e, id),
            nodeId.Select(id => new PeerAddress(null, id)));

        Prop.ForAll(endpoint.ToArbitrary(), address => NodeAddress.Parse(address.ToString()) == address).QuickCheckThrowOnFailure();
        Prop.ForAll(peer.ToArbitrary(), address => PeerAddress.Parse(address.ToString()) == address).QuickCheckThrowOnFailure();
        Prop.ForAll(peer.ArrayOf().Where(a => a.Length is > 0 and <= 64 && a.DistinctBy(p => (object?)p.Endpoint ?? p.NodeId).Count() == a.Length).ToArbitrary(), list =>
            PeerAddress.ParseList(string.Join(" , ", list.Select(a => a.ToString()))).SequenceEqual(list)).QuickCheckThrowOnFailure();
    }
}
