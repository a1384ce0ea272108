using System.Net;
using System.Net.Sockets;
using System.Text;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;
using OmniStore.Transport.Tcp;

namespace OmniStore.Tests.Tree;

/// <summary>
/// What a peer says (its site, the text of its errors, the names it binds) reaches the node's log
/// only escaped: a hostile peer cannot start a second log line, forge a "crit:" entry, or send
/// terminal control sequences to whoever reads the log.
/// </summary>
public sealed class UntrustedTextTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>What the attacker sent: a line break, a forged log line, ESC sequences and a bell.</summary>
    private const string Forged = "x\r\n2026-01-01T00:00:00.000Z crit: OmniStore.Node.TreeNode[3999] the store is corrupt\u001b[2J\u001b]0;owned\u0007";

    private readonly TempDirectory _dir = new("omnistore-untrusted");
    private readonly List<TreeNode> _nodes = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes))
        {
            await node.DisposeAsync();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task AHelloWithAForgedSite_IsRefusedInTheHandshake_AndLeavesNoRawControlCharacterInTheLog()
    {
        var ct = TestContext.Current.CancellationToken;
        var logs = new CapturedLogs();
        var root = await StartNodeAsync("root", parent: null, logs);
        // Long, but within a HELLO's size (a longer one is refused by its frame header, site unread).
        string site = Forged + new string('A', 200 - Forged.Length);

        var counters = new LinkCounters();
        var transport = await TcpConnection.ConnectAsync(root.Address, counters, ct);
        var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Client, site, null);
        var refused = await Assert.ThrowsAsync<OmniStoreException>(() => PeerConnection.StartAsync(transport, transport, true, identity, null, counters, null, ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.ProtocolError, refused.Error);
        Assert.Contains("site", refused.Message, StringComparison.Ordinal);
        AssertSafeText(refused.Message);

        Assert.True(await logs.WaitForAsync(e => e.EventId.Id == 3006, Timeout), "the refusal was not logged");
        AssertSafeLog(logs);
        Assert.Empty(root.Children);

        // Everyone else is served.
        await using var bystander = await OmniStoreClient.ConnectAsync(root.Address.ToString(), cancellationToken: ct);
        await bystander.PutAsync("after", new byte[] { 1, 2, 3 }, ct);
        Assert.Equal([1, 2, 3], await bystander.GetAsync("after", ct));
    }

    [Fact]
    public async Task TheErrorTextOfAHostileParent_ReachesTheRelaysLogEscaped()
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var parent = ServeErrorsAsync(listener, Forged, stop.Token);

        var logs = new CapturedLogs();
        var relay = await StartNodeAsync("relay", new NodeAddress("tcp", "127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port), logs);
        Assert.True(await logs.WaitForAsync(e => e.EventId.Id == 3002, Timeout), "the relay did not log its failed connection");
        Assert.Null(relay.Parent!.Current);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 3002 && e.Message.Contains("crit:", StringComparison.Ordinal));
        AssertSafeLog(logs);

        await stop.CancelAsync();
        listener.Stop();
        await parent.WaitAsync(Timeout, CancellationToken.None);
    }

    [Fact]
    public async Task TheErrorTextOfAHostileChild_ReachesTheRootsLogEscaped_AndThePutStillSucceeds()
    {
        var ct = TestContext.Current.CancellationToken;
        var logs = new CapturedLogs();
        var root = await StartNodeAsync("root", parent: null, logs);

        // A "relay" that answers every request, the root's UPDATE included, with a forged error.
        var counters = new LinkCounters();
        var transport = await TcpConnection.ConnectAsync(root.Address, counters, ct);
        var identity = new ConnectionIdentity(NodeIdentity.Create(), NodeRole.Relay, "evil", null);
        await using var child = await PeerConnection.StartAsync(transport, transport, true, identity, new FailingHandler(Forged), counters, null, ct);
        for (int i = 0; i < 100 && root.Children.Count == 0; i++)
        {
            await Task.Delay(20, ct);
        }

        await using var master = await OmniStoreClient.ConnectAsync(root.Address.ToString(), cancellationToken: ct);
        await master.PutAsync("pushed", new byte[] { 4, 5, 6 }, ct).AsTask().WaitAsync(Timeout, ct);
        Assert.True(await logs.WaitForAsync(e => e.EventId.Id == 3007, Timeout), "the failed update was not logged");
        Assert.Contains(logs.Entries, e => e.EventId.Id == 3007 && e.Message.Contains("crit:", StringComparison.Ordinal));
        AssertSafeLog(logs);
        Assert.Equal([4, 5, 6], await master.GetAsync("pushed", ct));
    }

    [Fact]
    public async Task ANameWithALineSeparatorOrABidiOverride_IsLoggedEscaped()
    {
        var ct = TestContext.Current.CancellationToken;
        var logs = new CapturedLogs();
        var root = await StartNodeAsync("root", parent: null, logs);
        await using var client = await OmniStoreClient.ConnectAsync(root.Address.ToString(), cancellationToken: ct);

        // Names may hold any printable Unicode, but these are not printable: U+2028 starts a new line
        // in many viewers, U+202E reverses the rest of the line.
        string name = "inputs/a\u2028crit: forged\u202Egpj.exe";
        await client.PutAsync(name, new byte[] { 7 }, ct);
        Assert.True(await logs.WaitForAsync(e => e.EventId.Id == 3008, Timeout), "the bind was not logged");
        AssertSafeLog(logs);
        Assert.Equal([7], await client.GetAsync(name, ct)); // the name itself is untouched
    }

    [Theory]
    [InlineData("plain text, any script: données, データ", "plain text, any script: données, データ")]
    [InlineData("a\r\nb\tc", "a\\r\\nb\\tc")]
    [InlineData("esc\u001b[2J bell\u0007 del\u007f c1\u0085", "esc\\x1B[2J bell\\x07 del\\x7F c1\\x85")]
    [InlineData("line\u2028para\u2029bidi\u202Ezero\u200Bbom\uFEFF", "line\\u2028para\\u2029bidi\\u202Ezero\\u200Bbom\\uFEFF")]
    [InlineData("tag\U000E0041 private\uE000", "tag\\U000E0041 private\\uE000")]
    public void Escape_WritesEveryNonPrintableCharacterAsAnEscape(string text, string expected)
    {
        Assert.Equal(expected, OmniStore.Internal.UntrustedText.Escape(text));
        Assert.Equal(expected, OmniStore.Internal.UntrustedText.Escape(expected)); // idempotent
    }

    [Fact]
    public void Escape_CutsLongTextAndSaysHowMuchWasLeftOut()
    {
        string escaped = OmniStore.Internal.UntrustedText.Escape(new string('\a', 10_000), 100);
        Assert.StartsWith(@"\x07\x07", escaped, StringComparison.Ordinal);
        Assert.InRange(escaped.Length, 100, 140);
        Assert.EndsWith("more characters)", escaped, StringComparison.Ordinal);
        AssertSafeText(escaped);
        Assert.Equal(string.Empty, OmniStore.Internal.UntrustedText.Escape(null));
        Assert.Equal("lone \uFFFD surrogate", OmniStore.Internal.UntrustedText.Escape("lone " + '\uD800' + " surrogate"));
    }

    [Theory]
    [InlineData("")] // a client's: no site
    [InlineData("build-node-01.cluster.example.org")]
    [InlineData("ip-10-0-0-1.ec2.internal")]
    [InlineData("DESKTOP-7Q2K1AB")]
    [InlineData("localhost")]
    [InlineData("site_a:rack-2")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234")]
    public void ValidSiteNames_PassTheHandshake(string site)
    {
        Assert.True(SiteName.IsValid(site, out string? problem), problem);
        var hello = new HelloMessage(2, 2, TestKeys.RandomId(), NodeRole.Relay, site, Handshake.NewNonce(), false, []);
        Assert.Equal(site, HelloMessage.Decode(hello.Encode()).Site);
    }

    [Theory]
    [InlineData("a2345678901234567890123456789012345678901234567890123456789012345")]
    [InlineData("has space")]
    [InlineData("cr\r")]
    [InlineData("quote\"")]
    [InlineData("back\\slash")]
    [InlineData("données")]
    [InlineData("slash/")]
    public void InvalidSiteNames_AreAProtocolErrorInTheHandshake_AndAnInvalidOption(string site)
    {
        Assert.False(SiteName.IsValid(site, out string? problem));
        AssertSafeText(problem!);
        var hello = new HelloMessage(2, 2, TestKeys.RandomId(), NodeRole.Client, site, Handshake.NewNonce(), false, []);
        var error = Assert.Throws<OmniStoreException>(() => HelloMessage.Decode(hello.Encode()));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains("site name", error.Message, StringComparison.Ordinal);
        AssertSafeText(error.Message);

        var options = new TreeNodeOptions { Listen = [new NodeAddress("tcp", "127.0.0.1", 0)], DataDirectory = _dir.Sub("unused"), Site = site };
        var invalid = Assert.Throws<ArgumentException>(() => options.Validate());
        Assert.Contains("Site", invalid.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("build-01", "build-01")]
    [InlineData("My Laptop (2)", "My-Laptop--2-")]
    [InlineData("", "node")]
    [InlineData("ünïcode", "-n-code")]
    public void TheDefaultSite_IsTheHostNameMadeValid(string host, string expected)
    {
        Assert.Equal(expected, SiteName.FromHostName(host));
        Assert.Equal(SiteName.MaxLength, SiteName.FromHostName(new string('h', 300)).Length);
        var defaults = new TreeNodeOptions { Listen = [new NodeAddress("tcp", "127.0.0.1", 0)], DataDirectory = _dir.Sub("unused") };
        Assert.True(SiteName.IsValid(defaults.Site, out _), defaults.Site);
    }

    [Fact]
    public void AnErrorFromAPeer_IsEscapedAndCut_WhereItIsDecoded()
    {
        var payload = new byte[2 + 100_000];
        BitConverter.TryWriteBytes(payload, (ushort)OmniStoreError.NotFound);
        Encoding.UTF8.GetBytes(Forged).CopyTo(payload, 2);
        payload.AsSpan(2 + Encoding.UTF8.GetByteCount(Forged)).Fill((byte)'\n');
        var error = ErrorMessage.Decode(payload);
        Assert.Equal(OmniStoreError.NotFound, error.Error);
        AssertSafeText(error.Message);
        Assert.StartsWith(@"x\r\n2026-01-01", error.Message, StringComparison.Ordinal);
        Assert.InRange(error.Message.Length, 100, ErrorMessage.MaxLength + 40);
    }

    /// <summary>A listener that answers every connection's HELLO with an ERROR carrying <paramref name="text"/>.</summary>
    private static async Task ServeErrorsAsync(TcpListener listener, string text, CancellationToken ct)
    {
        for (int i = 0; i < 100 && !ct.IsCancellationRequested; i++)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            using (socket)
            using (var stream = new NetworkStream(socket))
            {
                try
                {
                    var header = new byte[ProtocolLimits.HeaderSize];
                    await stream.ReadExactlyAsync(header, ct).AsTask().WaitAsync(Timeout, ct);
                    await stream.ReadExactlyAsync(new byte[BitConverter.ToInt32(header, 0) - 8], ct).AsTask().WaitAsync(Timeout, ct);
                    var message = Encoding.UTF8.GetBytes(text);
                    var payload = new byte[2 + message.Length];
                    BitConverter.TryWriteBytes(payload, (ushort)OmniStoreError.Unavailable);
                    message.CopyTo(payload, 2);
                    var frame = new byte[ProtocolLimits.HeaderSize + payload.Length];
                    new FrameHeader(FrameType.Error, FrameFlags.End, 0, payload.Length).Write(frame);
                    payload.CopyTo(frame, ProtocolLimits.HeaderSize);
                    await stream.WriteAsync(frame, ct);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or TimeoutException)
                {
                }
            }
        }
    }

    private async Task<TreeNode> StartNodeAsync(string site, NodeAddress? parent, CapturedLogs logs)
    {
        // The hostile "relay" below is a script without the relay secret: the root takes relays at their word.
        var node = await TreeNode.StartAsync(new TreeNodeOptions
        {
            AcceptRelaysWithoutSecret = true,
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Parent = parent,
            Site = site,
            DataDirectory = _dir.Sub($"{site}-{Guid.NewGuid():N}"),
            CacheSize = parent is null ? 0 : 256L << 20,
            LoggerFactory = logs,
        });
        _nodes.Add(node);
        return node;
    }

    /// <summary>Every message is one line of printable text of a bounded length.</summary>
    private static void AssertSafeLog(CapturedLogs logs)
    {
        foreach (var entry in logs.Entries)
        {
            AssertSafeText(entry.Message);
            Assert.True(entry.Message.Length <= 4096, $"a log message of {entry.Message.Length} characters: {entry.Message[..Math.Min(entry.Message.Length, 200)]}...");
        }
    }

    private static void AssertSafeText(string text)
    {
        foreach (var rune in text.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            Assert.False(
                Rune.IsControl(rune) || category is System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator,
                $"U+{rune.Value:X4} in: {text[..Math.Min(text.Length, 300)]}");
        }
    }

    private sealed class FailingHandler(string text) : IRequestHandler
    {
        public Task HandleAsync(PeerConnection connection, Message request, CancellationToken cancellationToken)
        {
            request.Dispose();
            throw new OmniStoreException(OmniStoreError.Unknown, text);
        }
    }
}
