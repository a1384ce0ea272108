using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Nat;
using OmniStore.Nat.Rendezvous;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Testing;
using OmniStore.Transport;

namespace OmniStore.Tests.Nat;

/// <summary>
/// Names, the rendezvous and the paths it opens, on loopback (docs/nat.md): a root registered by
/// name at a standalone rendezvous is reached as rudp://NAME by clients and by a relay, a dial
/// that opens no hole gets a relay through the rendezvous, and a stranger registers nothing.
/// The NAT cases themselves run in the lab (OmniStore.Cli.Tests, Nat).
/// </summary>
public sealed class RendezvousTests : IDisposable
{
    private static readonly byte[] Secret = "a tree's shared secret, 32 bytes"u8.ToArray();
    private readonly TempDirectory _dir = new("omnistore-rendezvous");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private static NodeAddress Rudp(int port = 0) => new("rudp", "127.0.0.1", port);

    private static RendezvousServer StartRendezvous(byte[]? secret = null) =>
        RendezvousServer.Start([Rudp()], secret ?? Secret, null, NullLoggerFactory.Instance);

    private async Task<TreeNode> StartNamedRootAsync(RendezvousServer rendezvous, string name = "master", byte[]? secret = null)
    {
        var root = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [Rudp()],
            NodeName = name,
            Rendezvous = rendezvous.Addresses[0],
            Site = "root",
            DataDirectory = _dir.Sub("root-" + name),
            Secret = secret ?? Secret,
            AcceptRelaysWithoutSecret = true,
        }, Token);
        return root;
    }

    [Fact]
    public async Task ANamedRoot_IsReachedAsRudpName_ThroughAStandaloneRendezvous()
    {
        await using var rendezvous = StartRendezvous();
        await using var root = await StartNamedRootAsync(rendezvous);
        await root.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
        Assert.Equal(1, rendezvous.Service.RegistrationCount);

        var data = new byte[300_000];
        Random.Shared.NextBytes(data);
        await using (var client = await OmniStoreClient.ConnectAsync("rudp://master", new OmniStoreOptions { Rendezvous = rendezvous.Addresses[0].ToString(), SharedSecret = Secret }, Token))
        {
            await client.PutAsync("named/object", data, cancellationToken: Token);
            Assert.Equal(data, await client.GetAsync("named/object", Token));
            var child = Assert.Single(root.Children);
            Assert.Equal("rudp direct", child.Path!.ToString()); // on loopback the root's host address answers first
        }
    }

    [Fact]
    public async Task ARelayWhoseParentIsNamed_JoinsTheTree_AndServesIt()
    {
        await using var rendezvous = StartRendezvous();
        await using var root = await StartNamedRootAsync(rendezvous);
        await root.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
        await using var relay = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [Rudp()],
            Parent = new NodeAddress("rudp", "master", 0),
            Rendezvous = rendezvous.Addresses[0],
            Site = "relay",
            DataDirectory = _dir.Sub("relay"),
            CacheSize = 256L << 20,
            Secret = Secret,
            RelaySecret = null,
            ServesRendezvous = false,
        }, Token);
        Assert.NotNull(relay.Parent!.Current);

        await using var client = await OmniStoreClient.ConnectAsync(relay.Address.ToString(), new OmniStoreOptions { SharedSecret = Secret }, Token);
        await client.PutAsync("through/relay", "named parent"u8.ToArray(), cancellationToken: Token);
        Assert.Equal("named parent"u8.ToArray(), await client.GetAsync("through/relay", Token));
        Assert.Equal("direct", relay.Parent.Current!.Path!.TypeName);
    }

    [Fact]
    public async Task ADialThatOpensNoHole_IsRelayedThroughTheRendezvous_AndCarriesTheHandshake()
    {
        await using var rendezvous = StartRendezvous();
        await using var root = await StartNamedRootAsync(rendezvous);
        await root.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);

        var options = new NatOptions { Rendezvous = rendezvous.Addresses[0], TryDirect = false, UpgradeAttempts = 0 };
        var identity = ConnectionIdentity.NewClient(Secret);
        await using var dialer = new NatTraversal(options, endpoint: null, identity, NullLogger.Instance);
        var transport = await dialer.ConnectAsync("master", new LinkCounters(), Token);
        Assert.Equal(PathType.Relayed, transport.Path.Type);
        await using var connection = await PeerConnection.StartAsync(transport, isOpener: true, identity, handler: null, ConnectionLimits.Default, NullLogger.Instance, Token);
        using (var answer = await connection.RequestAsync(FrameType.Resolve, Names.Encode("nothing/here"), Token).ContinueWith(t => t.IsFaulted ? null : t.Result, Token))
        {
            // The request crossed the relay both ways: an answer (an error for a name never bound) came back.
        }

        Assert.Equal(1, rendezvous.Service.RelayCount);
        Assert.True(rendezvous.Service.RelayedBytes > 1000, $"{rendezvous.Service.RelayedBytes} bytes relayed");
        var child = Assert.Single(root.Children);
        Assert.Equal("relayed", child.Path!.TypeName);
    }

    [Fact]
    public async Task AnUnknownName_IsNotFound_WithTheNameInTheMessage()
    {
        await using var rendezvous = StartRendezvous();
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync("rudp://nobody", new OmniStoreOptions { Rendezvous = rendezvous.Addresses[0].ToString(), SharedSecret = Secret }, Token));
        Assert.Contains("nobody", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANodeWithoutTheTreesSecret_RegistersNothing()
    {
        await using var rendezvous = StartRendezvous();
        await using var stranger = await StartNamedRootAsync(rendezvous, "master", "not the tree's secret, 32 bytes!"u8.ToArray());
        await Task.Delay(1500, Token);
        Assert.False(stranger.NatTraversal!.IsRegistered);
        Assert.Equal(0, rendezvous.Service.RegistrationCount);
    }

    [Fact]
    public async Task ANamedAddress_WithoutARendezvous_SaysWhatIsMissing()
    {
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync("rudp://master", new OmniStoreOptions(), Token));
        Assert.Contains("rendezvous", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AConnectionString_NamesTheRendezvous()
    {
        await using var rendezvous = StartRendezvous();
        await using var root = await StartNamedRootAsync(rendezvous);
        await root.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
        string secretFile = _dir.Sub("secret");
        await File.WriteAllBytesAsync(secretFile, Secret, Token);

        await using var client = await OmniStoreClient.ConnectAsync($"rudp://master;rendezvous={rendezvous.Addresses[0]};secretFile={secretFile}", null, Token);
        await client.PutAsync("by/connection-string", "x"u8.ToArray(), cancellationToken: Token);
        Assert.Equal("x"u8.ToArray(), await client.GetAsync("by/connection-string", Token));
    }

    [Theory]
    [InlineData("tcp://127.0.0.1:9")]
    [InlineData("rudp://127.0.0.1")]
    [InlineData("not an address")]
    public async Task ARendezvousThatIsNotRudpHostPort_IsRefused_SayingWhatItMustBe(string rendezvous)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => OmniStoreClient.ConnectAsync("rudp://master", new OmniStoreOptions { Rendezvous = rendezvous }, Token));
        Assert.Contains("rudp://HOST:PORT", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANamedNodesStatus_SaysItIsRegistered_WhereItIsSeen_AndItsMapping()
    {
        await using var rendezvous = StartRendezvous();
        await using var root = await StartNamedRootAsync(rendezvous);
        await root.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (root.NatTraversal.Mapping is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Token);
        }

        var nat = root.GetStatus().Nat!;
        Assert.Equal("master", nat.Name);
        Assert.True(nat.Registered);
        Assert.Equal(root.Address.ToString().Replace("rudp://", "", StringComparison.Ordinal), nat.Reflexive);
        Assert.Equal("none", nat.Mapping); // on loopback the rendezvous sees the socket's own address
        Assert.Equal(rendezvous.Addresses[0].ToString(), nat.Rendezvous);
        Assert.NotNull(root.GetStatus().Rendezvous); // a root serves a rendezvous of its own too
    }

    /// <summary>A tree member's own connection to the rendezvous, raw: it sends what it likes.</summary>
    private static async Task<PeerConnection> RawAsync(RendezvousServer rendezvous)
    {
        var server = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, rendezvous.Addresses[0].Port);
        var transport = await OmniStore.Transport.Rudp.RudpConnection.ConnectAsync(server, new LinkCounters(), OmniStore.Transport.Rudp.Internal.RudpSettings.Default, Token);
        return await PeerConnection.StartAsync(transport, isOpener: true, ConnectionIdentity.NewClient(Secret), handler: null, ConnectionLimits.Default, NullLogger.Instance, Token);
    }

    [Fact]
    public async Task AConnectionHoldsOneName_HoweverOftenItRegisters_AndLosesItWhenItCloses()
    {
        await using var rendezvous = StartRendezvous();
        await using (var member = await RawAsync(rendezvous))
        {
            for (int i = 0; i < 200; i++)
            {
                using var answer = await member.RequestAsync(FrameType.Register, RendezvousMessages.EncodeRegister($"name-{i % 50}", []), Token);
                Assert.Equal(FrameType.Candidates, answer.Type);
            }

            Assert.Equal(1, rendezvous.Service.RegistrationCount);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (rendezvous.Service.RegistrationCount > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Token);
        }

        Assert.Equal(0, rendezvous.Service.RegistrationCount);
    }

    [Fact]
    public async Task IntroductionsOfOneConnection_ArePaced_SoARegisteredNodeCannotBeMadeToSprayDatagrams()
    {
        await using var rendezvous = StartRendezvous();
        await using var root = await StartNamedRootAsync(rendezvous);
        await root.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
        await using var member = await RawAsync(rendezvous);

        // A victim's address as the dialer's "host candidate": each introduction makes the node send there.
        Candidate[] victim = [new(CandidateKind.Host, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 9))];
        int introduced = 0, refused = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 40; i++)
        {
            try
            {
                using var answer = await member.RequestAsync(FrameType.Introduce, RendezvousMessages.EncodeIntroduce("master", victim), Token);
                introduced++;
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Unavailable && ex.Message.Contains("Too many introductions", StringComparison.Ordinal))
            {
                refused++;
            }
        }

        Assert.InRange(introduced, 16, 16 + (int)(clock.Elapsed.TotalMilliseconds / 250) + 1); // the burst, and what the pace allowed meanwhile
        Assert.True(refused > 0, "no introduction was refused");
        Assert.Equal(40, introduced + refused);

        // Another member is not held back by the first.
        await using var other = await RawAsync(rendezvous);
        using var fine = await other.RequestAsync(FrameType.Introduce, RendezvousMessages.EncodeIntroduce("master", []), Token);
        Assert.Equal(FrameType.Candidates, fine.Type);
    }

    [Fact]
    public async Task ARelayedConnection_MovesToADirectPath_OnceOneOpens_AndKeepsCarryingRequests()
    {
        await using var rendezvous = StartRendezvous();
        await using var root = await StartNamedRootAsync(rendezvous);
        await root.NatTraversal!.WaitRegisteredAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);

        // The first attempt goes straight to a relay; the later ones look for a hole, which loopback always has.
        var options = new NatOptions { Rendezvous = rendezvous.Addresses[0], TryDirect = false, UpgradeInterval = TimeSpan.FromMilliseconds(300) };
        var identity = ConnectionIdentity.NewClient(Secret);
        using var logs = new OmniStore.Tests.Infrastructure.CapturedLogs();
        await using var dialer = new NatTraversal(options, endpoint: null, identity, logs.CreateLogger("nat"));
        var transport = await dialer.ConnectAsync("master", new LinkCounters(), Token);
        Assert.Equal(PathType.Relayed, transport.Path.Type);
        await using var connection = await PeerConnection.StartAsync(transport, isOpener: true, identity, handler: null, ConnectionLimits.Default, NullLogger.Instance, Token);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while ((transport.Path.Type != PathType.Direct || Assert.Single(root.Children).Path!.Type != PathType.Direct) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, Token);
        }

        Assert.True(transport.Path.Type == PathType.Direct, $"{transport.Path} to {transport.RemoteEndPoint}; log: {string.Join(" | ", logs.Entries)}");
        Assert.Equal(PathType.Direct, Assert.Single(root.Children).Path!.Type); // the root followed: its path challenge was answered
        long relayedBefore = rendezvous.Service.RelayedBytes;
        for (int i = 0; i < 20; i++)
        {
            await Assert.ThrowsAsync<OmniStoreException>(() => connection.RequestAsync(FrameType.Resolve, Names.Encode($"nothing/{i}"), Token)); // answered (NotFound) over the new path
        }

        Assert.True(rendezvous.Service.RelayedBytes - relayedBefore < 500, "requests still crossed the relay after the move");
    }
}
