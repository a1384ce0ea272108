using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using OmniStore.Protocol;
using OmniStore.Transport;

namespace OmniStore.Tests.Protocol;

/// <summary>
/// The shared secret from version 6 on (docs/protocol.md, "Proofs"): the opener proves it first,
/// the acceptor proves it in its READY, so a stranger that dials learns nothing to test guesses
/// against offline; a node holding a secret speaks no older version; and an opener that holds the
/// secret takes no READY without the acceptor's proof.
/// </summary>
public sealed class SecretProofOrderTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] Secret = RandomNumberGenerator.GetBytes(32);

    private static ConnectionIdentity Identity(NodeRole role, byte[]? secret) =>
        new(NodeIdentity.Create(), role, role == NodeRole.Client ? string.Empty : "site", secret);

    [Fact]
    public async Task AStrangerThatDials_GetsNoProofOfTheSecret()
    {
        var ct = TestContext.Current.CancellationToken;
        var (stranger, acceptorEnd) = Pipes();
        var accepting = PeerConnection.StartAsync(acceptorEnd, acceptorEnd, isOpener: false, Identity(NodeRole.Root, Secret), null, new LinkCounters(), null, ct);

        var hello = new HelloMessage(ProtocolLimits.MinVersion, ProtocolLimits.MaxVersion, NodeId.Read(new byte[NodeId.Size]), NodeRole.Client, string.Empty, Handshake.NewNonce(), SecretRequired: false, []);
        await WriteFrameAsync(stranger.Output, FrameType.Hello, hello.Encode(), ct);
        var (type, payload) = await ReadFrameAsync(stranger.Input, ct);

        Assert.Equal(FrameType.Hello, type);
        var answer = HelloMessage.Decode(payload, fromAcceptor: true);
        Assert.Equal(ProtocolLimits.MaxVersion, answer.MinVersion); // the highest both speak
        Assert.True(answer.MinVersion >= ProtocolLimits.OpenerProvesFirstVersion);
        Assert.True(answer.SecretRequired, "the acceptor says it needs the secret");
        Assert.Empty(answer.Proof); // nothing derived from the secret
        await stranger.Output.CompleteAsync();
        await Assert.ThrowsAsync<OmniStoreException>(() => accepting.WaitAsync(Timeout, ct));
    }

    [Fact]
    public async Task ANodeHoldingTheSecret_RefusesAnOpenerOfAnOlderVersion_WithBothRanges()
    {
        var (opener, acceptor) = await RefusedAsync(Identity(NodeRole.Client, Secret) with { MaxVersion = 5 }, Identity(NodeRole.Root, Secret));
        Assert.Equal(OmniStoreError.ProtocolError, opener.Error);
        Assert.Contains("no common protocol version: the peer speaks 2..5, this node 6..", opener.Message, StringComparison.Ordinal);
        Assert.Contains("needs a peer that proves it first", opener.Message, StringComparison.Ordinal);
        Assert.Equal(OmniStoreError.ProtocolError, acceptor.Error);
    }

    [Fact]
    public async Task ANodeWithoutASecret_StillTalksOlderVersions()
    {
        var ct = TestContext.Current.CancellationToken;
        var (openerEnd, acceptorEnd) = Pipes();
        var accepting = PeerConnection.StartAsync(acceptorEnd, acceptorEnd, isOpener: false, Identity(NodeRole.Root, null), null, new LinkCounters(), null, ct);
        var opening = PeerConnection.StartAsync(openerEnd, openerEnd, isOpener: true, Identity(NodeRole.Client, null) with { MaxVersion = 5 }, null, new LinkCounters(), null, ct);
        await using var opener = await opening.WaitAsync(Timeout, ct);
        await using var acceptor = await accepting.WaitAsync(Timeout, ct);
        Assert.Equal(5, opener.Version);
    }

    [Fact]
    public async Task BothHoldingTheSecret_Connect_AtVersion6()
    {
        var ct = TestContext.Current.CancellationToken;
        var (openerEnd, acceptorEnd) = Pipes();
        var accepting = PeerConnection.StartAsync(acceptorEnd, acceptorEnd, isOpener: false, Identity(NodeRole.Root, Secret), null, new LinkCounters(), null, ct);
        var opening = PeerConnection.StartAsync(openerEnd, openerEnd, isOpener: true, Identity(NodeRole.Client, Secret), null, new LinkCounters(), null, ct);
        await using var opener = await opening.WaitAsync(Timeout, ct);
        await using var acceptor = await accepting.WaitAsync(Timeout, ct);
        Assert.Equal(ProtocolLimits.MaxVersion, opener.Version);
        Assert.Equal(ProtocolLimits.MaxVersion, acceptor.Version);
    }

    [Fact]
    public async Task AWrongSecret_IsRefusedByTheAcceptor()
    {
        var (opener, acceptor) = await RefusedAsync(Identity(NodeRole.Client, RandomNumberGenerator.GetBytes(32)), Identity(NodeRole.Root, Secret));
        Assert.Equal(OmniStoreError.Unauthorized, opener.Error);
        Assert.Contains("the peer's shared secret does not match this node's", opener.Message, StringComparison.Ordinal);
        Assert.Equal(OmniStoreError.Unauthorized, acceptor.Error);
    }

    [Fact]
    public async Task AnOpenerHoldingTheSecret_RefusesAnAcceptorWithout()
    {
        var (opener, _) = await RefusedAsync(Identity(NodeRole.Client, Secret), Identity(NodeRole.Root, null));
        Assert.Equal(OmniStoreError.Unauthorized, opener.Error);
        Assert.Contains("you gave a shared secret, and this tree has none", opener.Message, StringComparison.Ordinal); // what the user did
    }

    /// <summary>
    /// A fake acceptor that says it holds the secret, lets the opener in and answers READY with a
    /// proof it cannot make: the opener refuses it, so a client with the secret is never fed by a
    /// node without it.
    /// </summary>
    [Fact]
    public async Task AnAcceptorWhoseReadyProvesNothing_IsRefused()
    {
        var ct = TestContext.Current.CancellationToken;
        var (openerEnd, fake) = Pipes();
        var opening = PeerConnection.StartAsync(openerEnd, openerEnd, isOpener: true, Identity(NodeRole.Client, Secret), null, new LinkCounters(), null, ct);

        using var fakeKey = NodeIdentity.Create();
        var (_, helloBytes) = await ReadFrameAsync(fake.Input, ct);
        var hello = HelloMessage.Decode(helloBytes);
        var answer = new HelloMessage(ProtocolLimits.MaxVersion, ProtocolLimits.MaxVersion, fakeKey.Id, NodeRole.Root, "fake", Handshake.NewNonce(), SecretRequired: true, []) { PublicKey = fakeKey.PublicKey, OpenerSide = hello.OpenerSide };
        await WriteFrameAsync(fake.Output, FrameType.Hello, Handshake.SignAcceptorHello(fakeKey, helloBytes, answer), ct);
        var (authType, _) = await ReadFrameAsync(fake.Input, ct);
        Assert.Equal(FrameType.Auth, authType);
        await WriteFrameAsync(fake.Output, FrameType.Ready, RandomNumberGenerator.GetBytes(Handshake.ProofSize), ct);

        var refused = await Assert.ThrowsAsync<OmniStoreException>(() => opening.WaitAsync(Timeout, ct));
        Assert.Equal(OmniStoreError.Unauthorized, refused.Error);
        Assert.Contains("the peer's shared secret does not match this node's", refused.Message, StringComparison.Ordinal);
    }

    // ---- helpers ----------------------------------------------------------------------------

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

    private static async Task WriteFrameAsync(PipeWriter output, FrameType type, byte[] payload, CancellationToken ct)
    {
        var bytes = new byte[ProtocolLimits.HeaderSize + payload.Length];
        new FrameHeader(type, FrameFlags.End, 0, payload.Length).Write(bytes);
        payload.CopyTo(bytes, ProtocolLimits.HeaderSize);
        await output.WriteAsync(bytes, ct);
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
