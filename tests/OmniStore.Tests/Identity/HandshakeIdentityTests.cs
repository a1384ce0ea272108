using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Testing;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;
using OmniStore.Transport.Tcp;

namespace OmniStore.Tests.Identity;

/// <summary>
/// Each side of a handshake proves its node id with its key (docs/protocol.md, "Proofs"): a peer
/// that cannot, or that is not the node a dialer expects, is refused, and the node serves on.
/// </summary>
public sealed class HandshakeIdentityTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("omnistore-handshake-identity");
    private readonly List<TreeNode> _nodes = [];

    [Fact]
    public async Task BothEnds_LearnTheIdTheOtherProved()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = await StartNodeAsync("root");
        var identity = ConnectionIdentity.NewClient();
        await using var connection = await ConnectAsync(root.Address, identity, ct);

        Assert.Equal(root.NodeId, connection.Remote.NodeId);
        Assert.Equal(root.NodeId, NodeId.FromPublicKey(connection.Remote.PublicKey));
        var child = await WaitForChildAsync(root, ct);
        Assert.Equal(identity.NodeId, child.Remote.NodeId);
        Assert.Equal(identity.NodeId, NodeId.FromPublicKey(child.Remote.PublicKey));
        Assert.Contains(root.GetStatus().Children, c => c.NodeId == identity.NodeId.ToString());
    }

    [Fact]
    public async Task ADialerThatExpectsAnotherNode_IsRefusedWithUnauthorized_AndTheNodeKeepsServing()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = await StartNodeAsync("root");
        var other = TestKeys.RandomId();

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => ConnectAsync(root.Address, ConnectionIdentity.NewClient() with { ExpectedPeer = other }, ct));
        Assert.Equal(OmniStoreError.Unauthorized, error.Error);
        Assert.Contains($"expected node {other}, reached node {root.NodeId}", error.Message, StringComparison.Ordinal);

        // The node took the dialer's refusal as a refused connection, not as a child.
        Assert.Empty(root.Children);
        await using (var expected = await ConnectAsync(root.Address, ConnectionIdentity.NewClient() with { ExpectedPeer = root.NodeId }, ct))
        {
            Assert.Equal(root.NodeId, expected.Remote.NodeId);
        }

        await using var client = await OmniStoreClient.ConnectAsync(root.Address.ToString(), cancellationToken: ct);
        await client.PutAsync("after", new byte[] { 1, 2, 3 }, ct);
        Assert.Equal([1, 2, 3], await client.GetAsync("after", ct));
    }

    [Fact]
    public async Task AClientAddressWithANodeId_ConnectsToThatNode_AndIsUnauthorizedAtAnother()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = await StartNodeAsync("root");
        await using (var client = await OmniStoreClient.ConnectAsync($"{root.Address}#{root.NodeId.ToString().ToUpperInvariant()}", cancellationToken: ct).WaitAsync(Timeout, ct))
        {
            await client.PutAsync("pinned", new byte[] { 4, 2 }, ct);
        }

        var other = TestKeys.RandomId();
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => OmniStoreClient.ConnectAsync($"{root.Address}#{other}", cancellationToken: ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.Unauthorized, error.Error);
        Assert.Contains($"expected node {other}, reached node {root.NodeId}", error.Message, StringComparison.Ordinal);
        await AssertServingAsync(root, ct);
    }

    [Fact]
    public async Task ARelayWhoseParentIsNotTheNodeItExpects_NeverUsesIt()
    {
        var ct = TestContext.Current.CancellationToken;
        var relaySecret = RandomNumberGenerator.GetBytes(32);
        var root = await StartNodeAsync("root", relaySecret: relaySecret);

        var wrong = await StartNodeAsync("wrong", parent: root.Address, parentId: TestKeys.RandomId(), relaySecret: relaySecret);
        Assert.Null(wrong.Parent!.Current);
        var deadline = DateTime.UtcNow + Timeout;
        while (wrong.DistrustReason is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, ct); // the refusal is reported just after the first attempt completes
        }

        Assert.Contains($"reached node {root.NodeId}", wrong.DistrustReason, StringComparison.Ordinal);
        Assert.DoesNotContain(root.Children, c => c.Remote.Role == NodeRole.Relay);

        var right = await StartNodeAsync("right", parent: root.Address, parentId: root.NodeId, relaySecret: relaySecret);
        Assert.NotNull(right.Parent!.Current);
        Assert.Equal(root.NodeId, right.Parent.Current!.Remote.NodeId);
        Assert.Equal(root.NodeId.ToString(), right.GetStatus().Parent!.NodeId);
        var relay = await WaitForChildAsync(root, ct);
        Assert.Equal(right.NodeId, relay.Remote.NodeId);
    }

    public static TheoryData<string> ForgedAuths() => ["flipped-signature", "another-keys-signature", "replayed-auth", "signature-over-other-bytes"];

    [Theory]
    [MemberData(nameof(ForgedAuths))]
    public async Task AnOpenerThatCannotProveItsId_IsRefusedWithUnauthorized_AndTheNodeKeepsServing(string forgery)
    {
        var ct = TestContext.Current.CancellationToken;
        var root = await StartNodeAsync("root");
        using var key = NodeIdentity.Create();
        using var other = NodeIdentity.Create();
        byte[]? recorded = null;
        if (forgery == "replayed-auth")
        {
            // An AUTH that was valid, on another connection: it signed that connection's acceptor nonce.
            var (firstReply, firstAuth) = await RawHandshakeAsync(root, key, key.Id, (hello, answer) => Handshake.SignAuth(key, hello, answer, [], []), ct);
            Assert.Equal(FrameType.Ready, firstReply.Type);
            recorded = firstAuth;
        }

        var (reply, _) = await RawHandshakeAsync(root, key, key.Id, (hello, answer) => forgery switch
        {
            "flipped-signature" => Flip(Handshake.SignAuth(key, hello, answer, [], []), ^1),
            "another-keys-signature" => Handshake.SignAuth(other, hello, answer, [], []) is var auth ? [.. auth.AsSpan(0, KeyAt), .. key.PublicKey, .. auth.AsSpan(KeyAt + NodeIdentity.PublicKeySize)] : [],
            "replayed-auth" => recorded!,
            "signature-over-other-bytes" => [.. Handshake.SignAuth(key, hello, answer, [], []).AsSpan(0, KeyAt + NodeIdentity.PublicKeySize + 1), .. key.Sign("something else"u8)],
            _ => throw new ArgumentOutOfRangeException(nameof(forgery)),
        }, ct);

        AssertRefused(reply, OmniStoreError.Unauthorized, "signature of the handshake does not hold");
        await AssertServingAsync(root, ct);
    }

    [Fact]
    public async Task AnOpenerWhoseIdIsNotItsKeys_IsRefusedWithUnauthorized()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = await StartNodeAsync("root");
        using var claimed = NodeIdentity.Create();
        using var actual = NodeIdentity.Create();

        // A valid signature by the key it sends, for a HELLO that names another node's id.
        var (reply, _) = await RawHandshakeAsync(root, actual, claimed.Id, (hello, answer) => Handshake.SignAuth(actual, hello, answer, [], []), ct);

        AssertRefused(reply, OmniStoreError.Unauthorized, $"it says it is node {claimed.Id}, but its public key is that of node {actual.Id}");
        await AssertServingAsync(root, ct);
    }

    public static TheoryData<string> MalformedAuths() =>
    [
        "cut-short", "trailing-byte", "key-length-90", "key-length-92", "signature-length-63", "proof-length-31", "relay-proof-from-a-client", "proof-without-secret", "empty",
    ];

    [Theory]
    [MemberData(nameof(MalformedAuths))]
    public async Task AnAuthWithAWrongLength_IsAProtocolError_AndTheNodeKeepsServing(string damage)
    {
        var ct = TestContext.Current.CancellationToken;
        var root = await StartNodeAsync("root");
        using var key = NodeIdentity.Create();
        var (reply, _) = await RawHandshakeAsync(root, key, key.Id, (hello, answer) =>
        {
            var auth = Handshake.SignAuth(key, hello, answer, [], []);
            return damage switch
            {
                "cut-short" => auth[..^1],
                "trailing-byte" => [.. auth, 0],
                "key-length-90" => Set(auth, KeyAt - 1, 90),
                "key-length-92" => Set(auth, KeyAt - 1, 92),
                "signature-length-63" => Set(auth, KeyAt + NodeIdentity.PublicKeySize, 63),
                "proof-length-31" => [31, .. new byte[31], .. auth.AsSpan(1)],
                "relay-proof-from-a-client" => Handshake.SignAuth(key, hello, answer, [], new byte[Handshake.ProofSize]),
                "proof-without-secret" => Handshake.SignAuth(key, hello, answer, new byte[Handshake.ProofSize], []),
                "empty" => [],
                _ => throw new ArgumentOutOfRangeException(nameof(damage)),
            };
        }, ct);

        AssertRefused(reply, OmniStoreError.ProtocolError, damage is "relay-proof-from-a-client" or "proof-without-secret" ? "AUTH with a" : "Malformed");
        await AssertServingAsync(root, ct);
    }

    [Theory]
    [InlineData((byte)FrameType.Hello, 200_000)]
    [InlineData((byte)FrameType.Hello, HelloMessage.MaxAcceptorSize + 1)]
    [InlineData((byte)FrameType.Error, 100_000)]
    public async Task AHandshakeFrameLongerThanItsMessage_IsRefusedFromItsHeader_BeforeItsPayloadArrives(byte frameType, int length)
    {
        var ct = TestContext.Current.CancellationToken;
        var type = (FrameType)frameType;
        var root = await StartNodeAsync("root");
        using var peer = await RawSocketPeer.ConnectAsync(root.Address.Port, cancellationToken: ct);

        // Only the header: a node that waited for the payload would answer nothing.
        await peer.WriteAsync(RawSocketPeer.Header(type, FrameFlags.End, 0, length), ct);
        var reply = await peer.ReadFrameAsync(ct);

        AssertRefused((reply.Type, reply.Payload), OmniStoreError.ProtocolError, $"at most {Handshake.MaxPayload(type)}");
        await peer.WaitForCloseAsync(Timeout, ct);
        await AssertServingAsync(root, ct);
    }

    [Fact]
    public async Task AnOpenersHelloCutShort_IsAProtocolError()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = await StartNodeAsync("root");
        using var key = NodeIdentity.Create();
        var hello = OpenerHello(key.Id);
        foreach (int length in new[] { 0, 3, 4, 20, 55, hello.Length - 1 })
        {
            using var peer = await RawSocketPeer.ConnectAsync(root.Address.Port, cancellationToken: ct);
            await peer.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, hello[..length]), ct);
            var reply = await peer.ReadFrameAsync(ct);
            AssertRefused((reply.Type, reply.Payload), OmniStoreError.ProtocolError, "Malformed message");
        }

        await AssertServingAsync(root, ct);
    }

    public static TheoryData<string> ForgedAnswers() => ["flipped-signature", "replayed-hello", "id-of-another-key", "key-not-on-the-curve", "key-of-another-curve", "signature-cut-short"];

    [Theory]
    [MemberData(nameof(ForgedAnswers))]
    public async Task AnAcceptorThatCannotProveItsId_IsRefusedByTheDialer(string forgery)
    {
        var ct = TestContext.Current.CancellationToken;
        byte[]? recorded = null;
        if (forgery == "replayed-hello")
        {
            // A real node's HELLO, valid for the opener nonce it answered, replayed to another opener.
            var root = await StartNodeAsync("root");
            using var peer = await RawSocketPeer.ConnectAsync(root.Address.Port, cancellationToken: ct);
            await peer.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, OpenerHello(TestKeys.RandomId())), ct);
            recorded = (await peer.ReadFrameAsync(ct)).Payload;
        }

        using var key = NodeIdentity.Create();
        using var other = NodeIdentity.Create();
        var fake = FakeAcceptor.Start(openerHello =>
        {
            var answer = new HelloMessage(ProtocolLimits.MaxVersion, ProtocolLimits.MaxVersion, key.Id, NodeRole.Root, "fake", Handshake.NewNonce(), false, []) { PublicKey = key.PublicKey };
            return forgery switch
            {
                "flipped-signature" => Flip(Handshake.SignAcceptorHello(key, openerHello, answer), ^1),
                "replayed-hello" => recorded!,
                "id-of-another-key" => Handshake.SignAcceptorHello(other, openerHello, answer with { PublicKey = other.PublicKey }),
                "key-not-on-the-curve" => Handshake.SignAcceptorHello(key, openerHello, answer with { PublicKey = Flip(key.PublicKey, ^1), NodeId = NodeId.FromPublicKey(Flip(key.PublicKey, ^1)) }),
                "key-of-another-curve" => Handshake.SignAcceptorHello(key, openerHello, answer with { PublicKey = OtherCurveKey(), NodeId = NodeId.FromPublicKey(OtherCurveKey()) }),
                "signature-cut-short" => Handshake.SignAcceptorHello(key, openerHello, answer)[..^1],
                _ => throw new ArgumentOutOfRangeException(nameof(forgery)),
            };
        });
        await using var _ = fake;

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => ConnectAsync(fake.Address, ConnectionIdentity.NewClient(), ct));
        if (forgery == "signature-cut-short")
        {
            Assert.Equal(OmniStoreError.ProtocolError, error.Error); // a field's length, not a proof: malformed
            Assert.Contains("Malformed message", error.Message, StringComparison.Ordinal);
            return;
        }

        Assert.Equal(OmniStoreError.Unauthorized, error.Error);
        Assert.Contains("the peer is not the node it says", error.Message, StringComparison.Ordinal);

        // The dialer told the acceptor why, and sent no AUTH.
        var told = await fake.ReplyToHello.WaitAsync(Timeout, ct);
        Assert.Equal(FrameType.Error, told.Type);
        Assert.Equal(OmniStoreError.Unauthorized, ErrorMessage.Decode(told.Payload).Error);
    }

    [Fact]
    public void TheHandshakeSizes_AreTheDocumentedOnes()
    {
        // docs/protocol.md, "HELLO" and "AUTH".
        Assert.Equal(121, HelloMessage.MaxOpenerSize);
        Assert.Equal(310, HelloMessage.MaxAcceptorSize);
        Assert.Equal(223, AuthMessage.MaxSize);
        Assert.Equal(57, new HelloMessage(2, 2, TestKeys.RandomId(), NodeRole.Client, "", Handshake.NewNonce(), false, []).Encode().Length);
        using var key = NodeIdentity.Create();
        Assert.Equal(NodeIdentity.PublicKeySize, key.PublicKey.Length);
        Assert.Equal(159, new AuthMessage([], [], key.PublicKey, new byte[NodeIdentity.SignatureSize]).Encode().Length);
        Assert.Equal(6002, Handshake.MaxPayload(FrameType.Error));
    }

    // ---- helpers ----------------------------------------------------------------------------

    /// <summary>Where the public key starts in an AUTH without proofs: after the two proof lengths and its own.</summary>
    private const int KeyAt = 3;

    private static byte[] OpenerHello(NodeId id, NodeRole role = NodeRole.Client) =>
        new HelloMessage(ProtocolLimits.MinVersion, ProtocolLimits.MaxVersion, id, role, "raw", Handshake.NewNonce(), false, []).Encode();

    /// <summary>
    /// An opener's handshake by hand: a HELLO that names <paramref name="claimed"/>, then the AUTH
    /// <paramref name="makeAuth"/> makes from both HELLOs. Returns the node's answer to the AUTH
    /// (READY or ERROR) and the AUTH sent.
    /// </summary>
    private static async Task<((FrameType Type, byte[] Payload) Reply, byte[] Auth)> RawHandshakeAsync(TreeNode node, NodeIdentity key, NodeId claimed, Func<byte[], byte[], byte[]> makeAuth, CancellationToken ct)
    {
        using var peer = await RawSocketPeer.ConnectAsync(node.Address.Port, cancellationToken: ct);
        var hello = OpenerHello(claimed);
        await peer.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, hello), ct);
        var answer = await peer.ReadFrameAsync(ct);
        Assert.Equal(FrameType.Hello, answer.Type);
        var auth = makeAuth(hello, answer.Payload);
        await peer.WriteAsync(RawSocketPeer.Frame(FrameType.Auth, FrameFlags.End, 0, auth), ct);
        var reply = await peer.ReadFrameAsync(ct);
        if (reply.Type == FrameType.Error)
        {
            await peer.WaitForCloseAsync(Timeout, ct);
        }

        return ((reply.Type, reply.Payload), auth);
    }

    private static void AssertRefused((FrameType Type, byte[] Payload) reply, OmniStoreError error, string reason)
    {
        Assert.Equal(FrameType.Error, reply.Type);
        var refusal = ErrorMessage.Decode(reply.Payload);
        Assert.Equal(error, refusal.Error);
        Assert.Contains(reason, refusal.Message, StringComparison.Ordinal);
    }

    private static async Task AssertServingAsync(TreeNode node, CancellationToken ct)
    {
        await using var client = await OmniStoreClient.ConnectAsync(node.Address.ToString(), cancellationToken: ct).WaitAsync(Timeout, ct);
        var data = TestData.Random(1000, 7);
        await client.PutAsync("still-serving", data, ct).AsTask().WaitAsync(Timeout, ct);
        Assert.Equal(data, await client.GetAsync("still-serving", ct).AsTask().WaitAsync(Timeout, ct));
    }

    private static byte[] Flip(byte[] bytes, Index at)
    {
        var copy = (byte[])bytes.Clone();
        copy[at] ^= 0x01;
        return copy;
    }

    private static byte[] Set(byte[] bytes, int at, byte value)
    {
        var copy = (byte[])bytes.Clone();
        copy[at] = value;
        return copy;
    }

    /// <summary>A P-256 key's bytes with another curve's OID byte: a key of the right size that is not P-256.</summary>
    private static byte[] OtherCurveKey()
    {
        using var key = NodeIdentity.Create();
        return Flip(key.PublicKey, 20);
    }

    private static async Task<PeerConnection> ConnectAsync(NodeAddress address, ConnectionIdentity identity, CancellationToken ct)
    {
        var counters = new LinkCounters();
        var transport = await TcpConnection.ConnectAsync(address, counters, ct);
        return await PeerConnection.StartAsync(transport, transport, isOpener: true, identity, null, counters, null, ct).WaitAsync(Timeout, ct);
    }

    private static async Task<PeerConnection> WaitForChildAsync(TreeNode node, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (node.Children.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, ct);
        }

        return Assert.Single(node.Children);
    }

    private async Task<TreeNode> StartNodeAsync(string site, NodeAddress? parent = null, NodeId? parentId = null, byte[]? relaySecret = null)
    {
        var node = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Parent = parent,
            ParentNodeId = parentId,
            Site = site,
            DataDirectory = _dir.Sub(site),
            CacheSize = parent is null ? 0 : 256L << 20,
            RelaySecret = relaySecret,
        });
        _nodes.Add(node);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        _dir.Dispose();
    }

    /// <summary>
    /// A listener that answers one opener's HELLO with what <c>answer</c> makes of it, then records
    /// what the opener sends next (its AUTH, or an ERROR that says why it refused).
    /// </summary>
    private sealed class FakeAcceptor : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new(Timeout);
        private readonly TaskCompletionSource<(FrameType Type, byte[] Payload)> _reply = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Task? _serving;

        public NodeAddress Address => new("tcp", "127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port);

        public Task<(FrameType Type, byte[] Payload)> ReplyToHello => _reply.Task;

        public static FakeAcceptor Start(Func<byte[], byte[]> answer)
        {
            var fake = new FakeAcceptor();
            fake._listener.Start();
            fake._serving = fake.ServeAsync(answer);
            return fake;
        }

        private async Task ServeAsync(Func<byte[], byte[]> answer)
        {
            try
            {
                using var socket = await _listener.AcceptSocketAsync(_stop.Token);
                await using var stream = new NetworkStream(socket);
                var hello = await ReadFrameAsync(stream);
                await stream.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, answer(hello.Payload)), _stop.Token);
                _reply.TrySetResult(await ReadFrameAsync(stream));
            }
            catch (Exception ex)
            {
                _reply.TrySetException(ex);
            }
        }

        private async Task<(FrameType Type, byte[] Payload)> ReadFrameAsync(NetworkStream stream)
        {
            var header = new byte[ProtocolLimits.HeaderSize];
            await stream.ReadExactlyAsync(header, _stop.Token);
            var payload = new byte[Math.Clamp(BitConverter.ToInt32(header) - 8, 0, 64 * 1024)];
            await stream.ReadExactlyAsync(payload, _stop.Token);
            return ((FrameType)header[4], payload);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            if (_serving is not null)
            {
                await _serving;
            }

            _stop.Dispose();
        }
    }
}
