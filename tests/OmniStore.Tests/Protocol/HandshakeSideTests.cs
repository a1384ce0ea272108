using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using OmniStore.Content;
using OmniStore.Node;
using OmniStore.Protocol;
using OmniStore.Testing;
using OmniStore.Tests.Infrastructure;
using OmniStore.Transport;

namespace OmniStore.Tests.Protocol;

/// <summary>
/// Which end of a connection is the parent is settled in the handshake, not by who dialed
/// (docs/protocol.md, "Roles"): the opener's HELLO asks to join as the acceptor's child or as its
/// parent, the acceptor takes a parent that dials it only when it names that node, and the side is
/// signed and bound into the secrets' proofs.
/// </summary>
public sealed class HandshakeSideTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Where the HELLO's flags byte is in the stream: the first frame's header, then offset 21 of its payload.</summary>
    private const int HelloFlagsAt = ProtocolLimits.HeaderSize + 21;

    private readonly TempDirectory _dir = new("omnistore-handshake-side");
    private readonly List<IAsyncDisposable> _owned = [];

    [Fact]
    public async Task AnOpener_JoinsAsTheAcceptorsChild_ByDefault_OnBothEnds()
    {
        using var openerKey = NodeIdentity.Create();
        using var acceptorKey = NodeIdentity.Create();
        var (opener, acceptor) = await ConnectAsync(Identity(openerKey, NodeRole.Relay) with { AcceptsRelaysWithoutSecret = true }, Identity(acceptorKey, NodeRole.Root) with { AcceptsRelaysWithoutSecret = true });

        Assert.Equal(TreeSide.Parent, opener.PeerSide);
        Assert.Equal(TreeSide.Child, acceptor.PeerSide);
        Assert.Equal(TreeSide.Child, opener.Remote.OpenerSide);
        Assert.Equal(TreeSide.Child, acceptor.Remote.OpenerSide);
        Assert.True(opener.IsOpener);
        Assert.False(acceptor.IsOpener);
    }

    [Theory]
    [InlineData((byte)NodeRole.Root, false)]
    [InlineData((byte)NodeRole.Relay, false)]
    [InlineData((byte)NodeRole.Relay, true)]
    public async Task AnOpenerThatAsksToBeTheParent_IsTheParentAtTheAcceptor_AndTheChildAtTheOpener_WhenTheAcceptorNamesIt(byte parentRole, bool withSecrets)
    {
        var role = (NodeRole)parentRole;
        using var parentKey = NodeIdentity.Create();
        using var childKey = NodeIdentity.Create();
        byte[]? secret = withSecrets ? RandomNumberGenerator.GetBytes(32) : null;
        byte[]? relaySecret = withSecrets ? RandomNumberGenerator.GetBytes(32) : null;
        var parent = Identity(parentKey, role, secret) with { OpenerSide = TreeSide.Parent, RelaySecret = relaySecret, ExpectedPeer = childKey.Id };
        var child = Identity(childKey, NodeRole.Relay, secret) with { AcceptsParent = parentKey.Id, RelaySecret = relaySecret };

        var (opener, acceptor) = await ConnectAsync(parent, child);

        Assert.Equal(TreeSide.Parent, acceptor.PeerSide);
        Assert.Equal(TreeSide.Child, opener.PeerSide);
        Assert.Equal(TreeSide.Parent, acceptor.Remote.OpenerSide);
        Assert.Equal(TreeSide.Parent, opener.Remote.OpenerSide); // the acceptor's answer confirmed it
        Assert.Equal(parentKey.Id, acceptor.Remote.NodeId);
        Assert.True(opener.IsOpener); // who dialed is still who dialed
    }

    [Fact]
    public async Task AnOpenerThatAsksToBeTheParent_IsRefusedWithUnauthorized_ByAnAcceptorThatTakesNone()
    {
        using var parentKey = NodeIdentity.Create();
        using var childKey = NodeIdentity.Create();

        var (opener, acceptor) = await RefusedAsync(Identity(parentKey, NodeRole.Relay) with { OpenerSide = TreeSide.Parent }, Identity(childKey, NodeRole.Relay));

        Assert.Equal(OmniStoreError.Unauthorized, opener.Error);
        Assert.Contains("this node takes no parent that dials it", opener.Message, StringComparison.Ordinal);
        Assert.Equal(OmniStoreError.Unauthorized, acceptor.Error);
    }

    [Fact]
    public async Task AnOpenerThatAsksToBeTheParent_IsRefusedWithUnauthorized_ByAnAcceptorThatNamesAnotherNode()
    {
        using var parentKey = NodeIdentity.Create();
        using var childKey = NodeIdentity.Create();
        var expected = TestKeys.RandomId();

        var (opener, _) = await RefusedAsync(Identity(parentKey, NodeRole.Root) with { OpenerSide = TreeSide.Parent }, Identity(childKey, NodeRole.Relay) with { AcceptsParent = expected });

        Assert.Equal(OmniStoreError.Unauthorized, opener.Error);
        Assert.Contains($"this node takes node {expected} as the parent that dials it, not node {parentKey.Id}", opener.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AClientThatAsksToBeTheParent_IsRefusedWithUnauthorized_EvenByAnAcceptorThatNamesIt()
    {
        using var clientKey = NodeIdentity.Create();
        using var childKey = NodeIdentity.Create();

        var (opener, _) = await RefusedAsync(Identity(clientKey, NodeRole.Client) with { OpenerSide = TreeSide.Parent }, Identity(childKey, NodeRole.Relay) with { AcceptsParent = clientKey.Id });

        Assert.Equal(OmniStoreError.Unauthorized, opener.Error);
        Assert.Contains("a client cannot be a parent", opener.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAcceptorThatNamesAParent_StillTakesOtherOpenersAsItsChildren()
    {
        using var clientKey = NodeIdentity.Create();
        using var childKey = NodeIdentity.Create();

        var (opener, acceptor) = await ConnectAsync(Identity(clientKey, NodeRole.Client), Identity(childKey, NodeRole.Relay) with { AcceptsParent = TestKeys.RandomId() });

        Assert.Equal(TreeSide.Child, acceptor.PeerSide);
        Assert.Equal(TreeSide.Parent, opener.PeerSide);
    }

    [Theory]
    [InlineData(0b100, "unknown tree side 2")]
    [InlineData(0b110, "unknown tree side 3")]
    [InlineData(0b1000, "bad flag 8")]
    [InlineData(0x80, "bad flag 128")]
    public async Task AnOpenersHelloWithAnUnknownSideOrFlag_IsAProtocolError_ToldToThePeer(byte flags, string reason)
    {
        var ct = TestContext.Current.CancellationToken;
        using var childKey = NodeIdentity.Create();
        using var openerKey = NodeIdentity.Create();
        var (openerEnd, acceptorEnd) = Pipes();
        var acceptor = PeerConnection.StartAsync(acceptorEnd, acceptorEnd, isOpener: false, Identity(childKey, NodeRole.Relay) with { AcceptsParent = openerKey.Id }, null, new LinkCounters(), null, ct);

        var hello = new HelloMessage(ProtocolLimits.MinVersion, ProtocolLimits.MaxVersion, openerKey.Id, NodeRole.Root, "raw", Handshake.NewNonce(), false, []).Encode();
        hello[21] = flags;
        await openerEnd.Output.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, hello), ct);
        var reply = await ReadFrameAsync(openerEnd.Input, ct);

        Assert.Equal(FrameType.Error, reply.Type);
        var told = ErrorMessage.Decode(reply.Payload);
        Assert.Equal(OmniStoreError.ProtocolError, told.Error);
        Assert.Contains(reason, told.Message, StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<OmniStoreException>(() => acceptor.WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
    }

    [Fact]
    public void AHelloWithAnUnknownSide_IsMalformed_AndEachKnownSideReadsBack()
    {
        var hello = new HelloMessage(2, 2, TestKeys.RandomId(), NodeRole.Relay, "site", Handshake.NewNonce(), true, []);
        foreach (var side in new[] { TreeSide.Child, TreeSide.Parent })
        {
            var bytes = (hello with { OpenerSide = side }).Encode();
            Assert.Equal((byte)(1 | ((byte)side << 1)), bytes[21]);
            var read = HelloMessage.Decode(bytes);
            Assert.Equal(side, read.OpenerSide);
            Assert.True(read.SecretRequired);
        }

        var unknown = hello.Encode();
        unknown[21] |= 0b100;
        var error = Assert.Throws<OmniStoreException>(() => HelloMessage.Decode(unknown));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains("unknown tree side 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAcceptorsAnswerThatNamesAnotherSide_IsRefusedByTheOpener_AsAProtocolError()
    {
        var ct = TestContext.Current.CancellationToken;
        using var acceptorKey = NodeIdentity.Create();
        var (openerEnd, acceptorEnd) = Pipes();
        var opener = PeerConnection.StartAsync(openerEnd, openerEnd, isOpener: true, ConnectionIdentity.NewClient(), null, new LinkCounters(), null, ct);

        // A well-signed answer that takes the child that asked as its parent.
        var hello = await ReadFrameAsync(acceptorEnd.Input, ct);
        var answer = new HelloMessage(ProtocolLimits.MaxVersion, ProtocolLimits.MaxVersion, acceptorKey.Id, NodeRole.Root, "fake", Handshake.NewNonce(), false, [])
        {
            PublicKey = acceptorKey.PublicKey,
            OpenerSide = TreeSide.Parent,
        };
        await acceptorEnd.Output.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, Handshake.SignAcceptorHello(acceptorKey, hello.Payload, answer)), ct);

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => opener.WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains("this node asked to be the peer's child, and the peer answered that it takes it as its parent", error.Message, StringComparison.Ordinal);
        var told = await ReadFrameAsync(acceptorEnd.Input, ct);
        Assert.Equal(FrameType.Error, told.Type);
        Assert.Equal(OmniStoreError.ProtocolError, ErrorMessage.Decode(told.Payload).Error);
    }

    [Fact]
    public async Task AnAcceptorsAnswerWithAnUnknownSide_IsAProtocolErrorAtTheOpener()
    {
        var ct = TestContext.Current.CancellationToken;
        using var acceptorKey = NodeIdentity.Create();
        var (openerEnd, acceptorEnd) = Pipes();
        var opener = PeerConnection.StartAsync(openerEnd, openerEnd, isOpener: true, ConnectionIdentity.NewClient(), null, new LinkCounters(), null, ct);

        var hello = await ReadFrameAsync(acceptorEnd.Input, ct);
        var answer = new HelloMessage(ProtocolLimits.MaxVersion, ProtocolLimits.MaxVersion, acceptorKey.Id, NodeRole.Root, "fake", Handshake.NewNonce(), false, []) { PublicKey = acceptorKey.PublicKey };
        var bytes = Handshake.SignAcceptorHello(acceptorKey, hello.Payload, answer);
        bytes[21] |= 0b110;
        await acceptorEnd.Output.WriteAsync(RawSocketPeer.Frame(FrameType.Hello, FrameFlags.End, 0, bytes), ct);

        var error = await Assert.ThrowsAsync<OmniStoreException>(() => opener.WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains("unknown tree side 3", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData((byte)TreeSide.Child)]
    [InlineData((byte)TreeSide.Parent)]
    public async Task ASideChangedOnThePath_FailsTheProof_AndNeitherEndTakesTheConnection(byte askedSide)
    {
        var asked = (TreeSide)askedSide;

        // Someone on the path turns the opener's side around in its HELLO and back in the answer,
        // so that each end would see the side it expects: the acceptor names the opener as its
        // parent, so it would take a child that asked nothing of the kind as its parent.
        var ct = TestContext.Current.CancellationToken;
        using var openerKey = NodeIdentity.Create();
        using var acceptorKey = NodeIdentity.Create();
        var secret = RandomNumberGenerator.GetBytes(32);
        var opener = Identity(openerKey, NodeRole.Relay, secret) with { OpenerSide = asked };
        var acceptor = Identity(acceptorKey, NodeRole.Relay, secret) with { AcceptsParent = openerKey.Id, AcceptsRelaysWithoutSecret = true };
        var (openerEnd, acceptorEnd) = TamperedPipes(HelloFlagsAt, 0b10, ct);

        var accepting = PeerConnection.StartAsync(acceptorEnd, acceptorEnd, isOpener: false, acceptor, null, new LinkCounters(), null, ct);
        var opening = PeerConnection.StartAsync(openerEnd, openerEnd, isOpener: true, opener, null, new LinkCounters(), null, ct);

        var openerError = await Assert.ThrowsAsync<OmniStoreException>(() => opening.WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.Unauthorized, openerError.Error);
        Assert.Contains("the peer is not the node it says", openerError.Message, StringComparison.Ordinal);
        var acceptorError = await Assert.ThrowsAsync<OmniStoreException>(() => accepting.WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.Unauthorized, acceptorError.Error);
    }

    [Fact]
    public void TheSecretsProofs_BindTheSide()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        var hello = new HelloMessage(2, 2, TestKeys.RandomId(), NodeRole.Relay, "a", Handshake.NewNonce(), true, []);
        var answer = new HelloMessage(2, 2, TestKeys.RandomId(), NodeRole.Relay, "b", Handshake.NewNonce(), true, []);
        var asChild = Handshake.Context(hello, answer);
        var asParent = Handshake.Context(hello with { OpenerSide = TreeSide.Parent }, answer with { OpenerSide = TreeSide.Parent });

        Assert.Equal(99, asChild.Length); // docs/protocol.md, "Proofs"
        Assert.Equal((byte)TreeSide.Child, asChild[^1]);
        Assert.Equal((byte)TreeSide.Parent, asParent[^1]);
        Assert.False(Handshake.Verify(Handshake.AcceptorProof(secret, asChild), Handshake.AcceptorProof(secret, asParent)));
        Assert.False(Handshake.Verify(Handshake.OpenerProof(secret, asChild), Handshake.OpenerProof(secret, asParent)));
        Assert.False(Handshake.Verify(Handshake.RelayProof(secret, asChild), Handshake.RelayProof(secret, asParent)));
        Assert.True(Handshake.Verify(Handshake.OpenerProof(secret, asChild), Handshake.OpenerProof(secret, Handshake.Context(hello, answer))));
    }

    [Fact]
    public async Task AParentThatDialedANode_MayPushUpdate_ButNotAskWhatOnlyAChildAsks()
    {
        var ct = TestContext.Current.CancellationToken;
        var node = await TreeNode.StartAsync(new TreeNodeOptions
        {
            Listen = [new NodeAddress("tcp", "127.0.0.1", 0)],
            Site = "side",
            DataDirectory = _dir.Sub("root"),
            CacheSize = 0,
        }, ct);
        _owned.Add(node);
        using var parentKey = NodeIdentity.Create();
        using var nodeKey = NodeIdentity.Create();
        var update = new BindingMessage("name", 1, ManifestId.Compute("manifest"u8), IsBound: true).Encode();

        // The node is the acceptor; the parent dialed it.
        var (parent, atNode) = await ConnectAsync(Identity(parentKey, NodeRole.Root) with { OpenerSide = TreeSide.Parent }, Identity(nodeKey, NodeRole.Relay) with { AcceptsParent = parentKey.Id }, node);
        Assert.Equal(TreeSide.Parent, atNode.PeerSide);

        var resolve = await Assert.ThrowsAsync<OmniStoreException>(() => parent.RequestAsync(FrameType.Resolve, "name"u8.ToArray(), ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.ProtocolError, resolve.Error);
        Assert.Contains("Resolve is a child's request; a parent may only send UPDATE, PUSH_CHUNK", resolve.Message, StringComparison.Ordinal);

        // Its UPDATE passes the side rule (this node, a root, then has no use for it); a child's does not.
        var fromParent = await Assert.ThrowsAsync<OmniStoreException>(() => parent.RequestAsync(FrameType.Update, update, ct).WaitAsync(Timeout, ct));
        Assert.DoesNotContain("a child may not send it", fromParent.Message, StringComparison.Ordinal);
        Assert.Contains("The root has no parent", fromParent.Message, StringComparison.Ordinal);

        using var childKey = NodeIdentity.Create();
        var (child, _) = await ConnectAsync(Identity(childKey, NodeRole.Client), Identity(nodeKey, NodeRole.Relay) with { AcceptsParent = parentKey.Id }, node);
        var fromChild = await Assert.ThrowsAsync<OmniStoreException>(() => child.RequestAsync(FrameType.Update, update, ct).WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.ProtocolError, fromChild.Error);
        Assert.Contains("Update is a parent's request; a child may not send it", fromChild.Message, StringComparison.Ordinal);
    }

    // ---- helpers ----------------------------------------------------------------------------

    private static ConnectionIdentity Identity(NodeIdentity key, NodeRole role, byte[]? secret = null) =>
        new(key, role, role == NodeRole.Client ? string.Empty : "site", secret);

    /// <summary>Both ends of a handshake over in-memory pipes; both must succeed.</summary>
    private async Task<(PeerConnection Opener, PeerConnection Acceptor)> ConnectAsync(ConnectionIdentity opener, ConnectionIdentity acceptor, IRequestHandler? acceptorHandler = null)
    {
        var ct = TestContext.Current.CancellationToken;
        var (openerEnd, acceptorEnd) = Pipes();
        var accepting = PeerConnection.StartAsync(acceptorEnd, acceptorEnd, isOpener: false, acceptor, acceptorHandler, new LinkCounters(), null, ct);
        var opening = PeerConnection.StartAsync(openerEnd, openerEnd, isOpener: true, opener, null, new LinkCounters(), null, ct);
        await Task.WhenAll(accepting, opening).WaitAsync(Timeout, ct);
        _owned.Add(await opening);
        _owned.Add(await accepting);
        return (await opening, await accepting);
    }

    /// <summary>Both ends of a handshake that one of them refuses: what each end throws.</summary>
    private static async Task<(OmniStoreException Opener, OmniStoreException Acceptor)> RefusedAsync(ConnectionIdentity opener, ConnectionIdentity acceptor)
    {
        var ct = TestContext.Current.CancellationToken;
        var (openerEnd, acceptorEnd) = Pipes();
        var accepting = PeerConnection.StartAsync(acceptorEnd, acceptorEnd, isOpener: false, acceptor, null, new LinkCounters(), null, ct);
        var opening = PeerConnection.StartAsync(openerEnd, openerEnd, isOpener: true, opener, null, new LinkCounters(), null, ct);
        var openerError = await Assert.ThrowsAsync<OmniStoreException>(() => opening.WaitAsync(Timeout, ct));
        var acceptorError = await Assert.ThrowsAsync<OmniStoreException>(() => accepting.WaitAsync(Timeout, ct));
        return (openerError, acceptorError);
    }

    private static (PipeEnd Opener, PipeEnd Acceptor) Pipes()
    {
        var toAcceptor = new Pipe();
        var toOpener = new Pipe();
        return (new PipeEnd(toOpener.Reader, toAcceptor.Writer), new PipeEnd(toAcceptor.Reader, toOpener.Writer));
    }

    /// <summary>Pipes with a party on the path that XORs <paramref name="mask"/> into byte <paramref name="at"/> of each direction's stream.</summary>
    private static (PipeEnd Opener, PipeEnd Acceptor) TamperedPipes(int at, byte mask, CancellationToken ct)
    {
        var fromOpener = new Pipe();
        var toAcceptor = new Pipe();
        var fromAcceptor = new Pipe();
        var toOpener = new Pipe();
        _ = PumpAsync(fromOpener.Reader, toAcceptor.Writer, at, mask, ct);
        _ = PumpAsync(fromAcceptor.Reader, toOpener.Writer, at, mask, ct);
        return (new PipeEnd(toOpener.Reader, fromOpener.Writer), new PipeEnd(toAcceptor.Reader, fromAcceptor.Writer));
    }

    private static async Task PumpAsync(PipeReader from, PipeWriter to, int at, byte mask, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        long position = 0;
        try
        {
            while (true)
            {
                var result = await from.ReadAsync(timeout.Token);
                foreach (var segment in result.Buffer)
                {
                    var bytes = segment.ToArray();
                    if (at >= position && at < position + bytes.Length)
                    {
                        bytes[at - position] ^= mask;
                    }

                    position += bytes.Length;
                    if ((await to.WriteAsync(bytes, timeout.Token)).IsCompleted)
                    {
                        return;
                    }
                }

                from.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            await from.CompleteAsync();
            await to.CompleteAsync();
        }
    }

    private static async Task<(FrameType Type, byte[] Payload)> ReadFrameAsync(PipeReader reader, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        while (true)
        {
            var result = await reader.ReadAsync(timeout.Token);
            var buffer = result.Buffer;
            var status = FrameParser.TryRead(ref buffer, out var header, out var payload, out string? problem);
            Assert.NotEqual(FrameParseStatus.Malformed, status);
            if (status == FrameParseStatus.Frame)
            {
                var bytes = payload.ToArray();
                reader.AdvanceTo(buffer.Start);
                return (header.Type, bytes);
            }

            Assert.False(result.IsCompleted, $"the stream ended before a whole frame ({problem})");
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        _dir.Dispose();
    }

    private sealed class PipeEnd(PipeReader input, PipeWriter output) : IDuplexPipe, IAsyncDisposable
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;

        public async ValueTask DisposeAsync()
        {
            await Input.CompleteAsync();
            await Output.CompleteAsync();
        }
    }
}
