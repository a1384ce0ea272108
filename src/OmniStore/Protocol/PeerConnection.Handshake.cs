using System.Buffers;
using System.IO.Pipelines;
using OmniStore.Security;
using OmniStore.Transport;
using OmniStore.Transport.Tls;

namespace OmniStore.Protocol;

internal sealed partial class PeerConnection
{
    /// <summary>What a completed handshake settled: the peer's HELLO, the version, and what the peer is to this node.</summary>
    private readonly record struct HandshakeOutcome(HelloMessage Remote, ushort Version, TreeSide PeerSide);

    private int _unansweredAtClose;

    /// <summary>
    /// Whether this end dialed the connection: it numbers its requests with odd stream ids. Not which
    /// requests the peer may send: a parent may dial its child (<see cref="PeerSide"/>).
    /// </summary>
    public bool IsOpener => _isOpener;

    /// <summary>
    /// What the peer is to this node: its parent or its child, as settled by the handshake whoever
    /// dialed (docs/protocol.md, "Roles"). Which requests the peer may send follow from this.
    /// </summary>
    public TreeSide PeerSide { get; }

    /// <summary>
    /// Requests from the peer that had not been answered when the connection closed (0 while it is
    /// open). A relay whose parent link closed with an UPDATE unanswered may have missed a rebinding.
    /// </summary>
    public int UnansweredAtClose => Volatile.Read(ref _unansweredAtClose);

    private static async Task<HandshakeOutcome> OpenerHandshakeAsync(IDuplexPipe pipe, ConnectionIdentity local, CancellationToken cancellationToken)
    {
        var hello = new HelloMessage(ProtocolLimits.MinVersion, local.MaxVersion, local.NodeId, local.Role, local.Site, local.Nonces(), local.Secret is not null, []) { OpenerSide = local.OpenerSide };
        var helloBytes = hello.Encode();
        await WriteFrameAsync(pipe.Output, FrameType.Hello, helloBytes, cancellationToken).ConfigureAwait(false);

        var answerBytes = await ExpectFrameAsync(pipe, FrameType.Hello, answerViolations: false, cancellationToken).ConfigureAwait(false);

        // The version first: the rest is laid out as the version the peer chose says.
        var (min, max) = HelloMessage.ReadVersions(answerBytes);
        if (min != max || min < ProtocolLimits.MinVersion || min > local.MaxVersion)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"The peer chose protocol version {min}..{max}; this node speaks {ProtocolLimits.MinVersion}..{local.MaxVersion}.");
        }

        var answer = HelloMessage.Decode(answerBytes, fromAcceptor: true);
        var context = Handshake.Context(hello, answer);
        var refusalError = OmniStoreError.Unauthorized;
        string? refusal = NodeIdentity.CheckProof(answer.PublicKey, answer.NodeId, Handshake.AcceptorSigned(helloBytes, Handshake.Unsigned(answerBytes)), answer.Signature) is { } problem
            ? $"the peer is not the node it says: {problem}"
            : null;
        if (refusal is null && local.ExpectedPeer is { } expected && expected != answer.NodeId)
        {
            refusal = $"expected node {expected}, reached node {answer.NodeId}";
        }

        var tls = (pipe as TransportConnection)?.GetFeature<ITlsPeer>();
        refusal ??= tls is null ? null : TlsRefusal(tls, answer.PublicKey, answer.Role);

        // The acceptor takes the side asked for or refuses with an ERROR: an answer that names
        // another breaks the handshake's rules, whoever signed it.
        if (refusal is null && answer.OpenerSide != hello.OpenerSide)
        {
            refusalError = OmniStoreError.ProtocolError;
            refusal = $"this node asked to be the peer's {Name(hello.OpenerSide)}, and the peer answered that it takes it as its {Name(answer.OpenerSide)}";
        }

        // Before version 6 the acceptor proved the shared secret first, in its HELLO; from 6 on it
        // proves it in its READY, after the opener's proof (docs/protocol.md, "Proofs").
        bool acceptorProvesLast = answer.MinVersion >= ProtocolLimits.OpenerProvesFirstVersion;
        if (refusal is null && acceptorProvesLast && answer.Proof.Length != 0)
        {
            refusalError = OmniStoreError.ProtocolError;
            refusal = $"the peer's HELLO of version {answer.MinVersion} holds a shared-secret proof, which that version sends in READY";
        }

        // Said to the user as what they did: they gave this end a secret the tree does not use.
        const string SecretNotUsed = "the peer has no shared secret, but this node requires one";
        string? told = null;
        if (refusal is null && local.Secret is { } secret && tls is null && !acceptorProvesLast)
        {
            refusal = answer.Proof.Length == 0
                ? SecretNotUsed
                : Handshake.Verify(Handshake.AcceptorProof(secret, context), answer.Proof) ? null : "the peer's shared secret does not match this node's";
        }

        if (refusal is null && local.Secret is not null && tls is null && acceptorProvesLast && !answer.SecretRequired)
        {
            refusal = SecretNotUsed;
        }

        if (refusal == SecretNotUsed)
        {
            told = "you gave a shared secret, and this tree has none (the node there holds no secret): connect without one, or give that node the tree's secret";
        }

        if (refusal is not null)
        {
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(refusalError, $"Refused: {refusal}."), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(refusalError, $"Refused the connection: {told ?? refusal}.");
        }

        // A relay proves the relay secret after the shared one (docs/protocol.md, "AUTH"): whether
        // to accept it as a relay is the acceptor's decision, told in its answer.
        var proof = local.Secret is { } shared ? Handshake.OpenerProof(shared, context) : [];
        var relayProof = local.Role == NodeRole.Relay && local.RelaySecret is { } relaySecret ? Handshake.RelayProof(relaySecret, context) : [];
        var auth = Handshake.SignAuth(local.Node, helloBytes, answerBytes, proof, relayProof);
        await WriteFrameAsync(pipe.Output, FrameType.Auth, auth, cancellationToken).ConfigureAwait(false);
        var ready = await ExpectFrameAsync(pipe, FrameType.Ready, answerViolations: false, cancellationToken).ConfigureAwait(false);
        if (ReadyRefusal(local, tls, acceptorProvesLast, answer.SecretRequired, context, ready) is { } late)
        {
            // The acceptor took this node: it hears the refusal as the connection's end.
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.Unauthorized, $"Refused: {late}."), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(OmniStoreError.Unauthorized, $"Refused the connection: {late}.");
        }

        return new HandshakeOutcome(answer, answer.MinVersion, Opposite(hello.OpenerSide));
    }

    /// <summary>
    /// Why the opener refuses the acceptor's READY, or null: from version 6, an acceptor that holds
    /// the shared secret proves it there, and an opener that holds it takes no READY without that
    /// proof (so a fake acceptor that merely let the opener in is refused). Earlier versions' READY is empty.
    /// </summary>
    private static string? ReadyRefusal(ConnectionIdentity local, ITlsPeer? tls, bool acceptorProvesLast, bool acceptorHoldsSecret, byte[] context, byte[] ready)
    {
        if (!acceptorProvesLast || tls is not null)
        {
            return ready.Length == 0 ? null : $"a READY of {ready.Length} bytes, where this version's is empty";
        }

        if (ready.Length != (acceptorHoldsSecret ? Handshake.ProofSize : 0))
        {
            return $"a READY of {ready.Length} bytes from a node that {(acceptorHoldsSecret ? "holds" : "does not hold")} the shared secret";
        }

        if (local.Secret is not { } secret)
        {
            return null;
        }

        return Handshake.Verify(Handshake.AcceptorProof(secret, context), ready) ? null : "the peer's shared secret does not match this node's";
    }

    private static async Task<HandshakeOutcome> AcceptorHandshakeAsync(IDuplexPipe pipe, ConnectionIdentity local, CancellationToken cancellationToken)
    {
        var helloBytes = await ExpectFrameAsync(pipe, FrameType.Hello, answerViolations: true, cancellationToken).ConfigureAwait(false);

        // The range first, in the layout every version shares: a peer of another version is told
        // both ranges, not that its HELLO is malformed.
        var (offeredMin, offeredMax) = await DecodeOrRefuseAsync(pipe, () => HelloMessage.ReadVersions(helloBytes), cancellationToken).ConfigureAwait(false);
        // A node that holds the shared secret speaks only versions in which the opener proves it
        // first: an older one would have it hand its proof to any stranger that dials.
        ushort min = local.Secret is not null && local.MaxVersion >= ProtocolLimits.OpenerProvesFirstVersion ? ProtocolLimits.OpenerProvesFirstVersion : ProtocolLimits.MinVersion;
        ushort low = Math.Max(offeredMin, min);
        ushort high = Math.Min(offeredMax, local.MaxVersion);
        if (low > high)
        {
            string problem = $"no common protocol version: the peer speaks {offeredMin}..{offeredMax}, this node {min}..{local.MaxVersion}{(min > ProtocolLimits.MinVersion ? " (holding a shared secret, it needs a peer that proves it first)" : string.Empty)}";
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.ProtocolError, problem), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"Refused the connection: {problem}.");
        }

        var hello = await DecodeOrRefuseAsync(pipe, () => HelloMessage.Decode(helloBytes), cancellationToken).ConfigureAwait(false);
        // The answer repeats the side the opener asked for: whether this node takes it on that side
        // is decided once the opener has proved its id, after its AUTH.
        var answer = new HelloMessage(high, high, local.NodeId, local.Role, local.Site, local.Nonces(), local.Secret is not null, []) { PublicKey = local.Node.PublicKey, OpenerSide = hello.OpenerSide };
        var context = Handshake.Context(hello, answer);
        bool provesLast = high >= ProtocolLimits.OpenerProvesFirstVersion;
        if (local.Secret is { } secret && !provesLast)
        {
            answer = answer with { Proof = Handshake.AcceptorProof(secret, context) };
        }

        var answerBytes = Handshake.SignAcceptorHello(local.Node, helloBytes, answer);
        await WriteFrameAsync(pipe.Output, FrameType.Hello, answerBytes, cancellationToken).ConfigureAwait(false);

        var authBytes = await ExpectFrameAsync(pipe, FrameType.Auth, answerViolations: true, cancellationToken).ConfigureAwait(false);
        var auth = await DecodeOrRefuseAsync(pipe, () => AuthMessage.Decode(authBytes), cancellationToken).ConfigureAwait(false);

        // The shared-secret proof comes when the opener's HELLO says it holds the secret; a relay
        // proof only from a relay.
        if (auth.Proof.Length != (hello.SecretRequired ? Handshake.ProofSize : 0) || (auth.RelayProof.Length != 0 && hello.Role != NodeRole.Relay))
        {
            string problem = $"an AUTH with a {auth.Proof.Length}-byte shared-secret proof and a {auth.RelayProof.Length}-byte relay proof from a {hello.Role.ToString().ToLowerInvariant()} that {(hello.SecretRequired ? "holds" : "does not hold")} the shared secret";
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.ProtocolError, problem), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"Refused the connection: {problem}.");
        }

        string? refusal = NodeIdentity.CheckProof(auth.PublicKey, hello.NodeId, Handshake.OpenerSigned(helloBytes, Handshake.Unsigned(answerBytes), Handshake.Unsigned(authBytes)), auth.Signature) is { } mismatch
            ? $"the peer is not the node it says: {mismatch}"
            : null;
        var tls = (pipe as TransportConnection)?.GetFeature<ITlsPeer>(); // over TLS the certificates authenticate: no secret is asked for
        if (refusal is null && local.Secret is { } expected && tls is null && !Handshake.Verify(Handshake.OpenerProof(expected, context), auth.Proof))
        {
            refusal = auth.Proof.Length == 0 ? "the peer sent no shared secret, and this node requires one" : "the peer's shared secret does not match this node's";
        }

        hello = hello with { PublicKey = auth.PublicKey };
        refusal ??= tls is null ? null : TlsRefusal(tls, auth.PublicKey, hello.Role);
        refusal ??= hello.OpenerSide == TreeSide.Parent ? ParentRefusal(local, hello) : hello.Role switch
        {
            NodeRole.Root => "a child cannot be the root: this node accepts clients and relays",
            NodeRole.Relay => tls is not null ? null : RelayRefusal(local, context, auth.RelayProof), // over TLS the certificate grants the role
            _ => null,
        };
        refusal ??= local.Admission?.Invoke(hello);
        if (refusal is not null)
        {
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.Unauthorized, $"Refused: {refusal}."), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(OmniStoreError.Unauthorized, $"Refused the connection: {refusal}.");
        }

        // From version 6 the acceptor proves the secret only now, to an opener that proved it.
        byte[] ready = provesLast && tls is null && local.Secret is { } held ? Handshake.AcceptorProof(held, context) : [];
        await WriteFrameAsync(pipe.Output, FrameType.Ready, ready, cancellationToken).ConfigureAwait(false);
        return new HandshakeOutcome(hello, high, hello.OpenerSide);
    }

    /// <summary>
    /// Why an opener that asks to be this node's parent is not taken as one, or null. Only the node
    /// this one names as the parent that dials it is, proved by its signature (so no relay secret is
    /// asked of it), and only as a root or a relay.
    /// </summary>
    private static string? ParentRefusal(ConnectionIdentity local, HelloMessage hello)
    {
        if (local.AcceptsParent is not { } parent)
        {
            return "this node takes no parent that dials it";
        }

        if (hello.Role == NodeRole.Client)
        {
            return "a client cannot be a parent: a parent that dials this node is a root or a relay";
        }

        return hello.NodeId == parent ? null : $"this node takes node {parent} as the parent that dials it, not node {hello.NodeId}";
    }

    /// <summary>
    /// Why a peer on a TLS link is refused, or null (docs/tls.md, "What each end checks"): it must
    /// sign the handshake with its certificate's key, so that a party on the path with a
    /// certificate of its own cannot relay another node's handshake; and its certificate must grant
    /// the role its HELLO claims.
    /// </summary>
    private static string? TlsRefusal(ITlsPeer tls, ReadOnlySpan<byte> handshakeKey, NodeRole role)
    {
        if (!tls.Authenticated.IsCompletedSuccessfully || tls.PeerPublicKey is not { } certificateKey || tls.PeerRights is not { } rights)
        {
            return "the TLS handshake did not establish the peer's certificate";
        }

        if (!handshakeKey.SequenceEqual(certificateKey))
        {
            return $"the peer signs the handshake with another key than its TLS certificate's ('{tls.PeerName}')";
        }

        return role switch
        {
            NodeRole.Relay when !rights.MayRelay => $"certificate '{tls.PeerName}' is a client's: it cannot act as a relay",
            NodeRole.Root when rights.Role != CertificateRole.Root => $"certificate '{tls.PeerName}' is a {rights.Role.ToString().ToLowerInvariant()}'s: it cannot act as the root",
            _ => null,
        };
    }

    private static TreeSide Opposite(TreeSide side) => side == TreeSide.Child ? TreeSide.Parent : TreeSide.Child;

    private static string Name(TreeSide side) => side == TreeSide.Child ? "child" : "parent";

    /// <summary>
    /// Why an opener that says it is a relay is not taken as one, or null. A relay is waited for on
    /// every rebinding and sent every broadcast chunk, so the role is granted only to a peer that
    /// proves the relay secret, or by a node told to trust its network.
    /// </summary>
    private static string? RelayRefusal(ConnectionIdentity local, byte[] context, ReadOnlySpan<byte> proof)
    {
        if (local.AcceptsRelaysWithoutSecret)
        {
            return null;
        }

        if (local.RelaySecret is not { } relaySecret)
        {
            return "this node accepts relays only with its relay secret, and has none configured";
        }

        if (proof.Length == 0)
        {
            return "this node accepts relays only with its relay secret, and the peer proved none";
        }

        return Handshake.Verify(Handshake.RelayProof(relaySecret, context), proof)
            ? null
            : "this node accepts relays only with its relay secret, and the peer's does not match";
    }

    /// <summary>Decodes an opener's message; one that is malformed (a bad site, say) is answered with an ERROR that says why.</summary>
    private static async Task<T> DecodeOrRefuseAsync<T>(IDuplexPipe pipe, Func<T> decode, CancellationToken cancellationToken)
    {
        try
        {
            return decode();
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.ProtocolError)
        {
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(ex.Error, $"Refused: {ex.Message}"), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"Refused the connection: {ex.Message}");
        }
    }

    private static async Task WriteFrameAsync(PipeWriter output, FrameType type, byte[] payload, CancellationToken cancellationToken)
    {
        var span = output.GetSpan(ProtocolLimits.HeaderSize + payload.Length);
        new FrameHeader(type, FrameFlags.End, 0, payload.Length).Write(span);
        payload.CopyTo(span[ProtocolLimits.HeaderSize..]);
        output.Advance(ProtocolLimits.HeaderSize + payload.Length);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads one handshake frame; an ERROR from the peer is thrown as what it says. A frame that
    /// breaks the handshake's rules is a <see cref="OmniStoreError.ProtocolError"/>, told to the
    /// peer first when <paramref name="answerViolations"/> (the acceptor: an opener learns why).
    /// </summary>
    private static async Task<byte[]> ExpectFrameAsync(IDuplexPipe pipe, FrameType expected, bool answerViolations, CancellationToken cancellationToken)
    {
        var input = pipe.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = FrameParser.TryRead(ref buffer, out var header, out var payload, out string? problem);
            string? violation = status switch
            {
                FrameParseStatus.Malformed => $"Malformed frame during the handshake: {problem}.",
                FrameParseStatus.Frame => HandshakeHeaderProblem(header, expected),
                _ when result.Buffer.Length >= ProtocolLimits.HeaderSize => HandshakeHeaderProblem(header, expected), // before the payload is buffered
                _ => null,
            };
            if (violation is not null)
            {
                // The first bytes of a peer that are no frame come from something else than a node
                // (the status port given by mistake answers HTTP): say so rather than quote frame limits.
                var refusal = status == FrameParseStatus.Malformed && expected == FrameType.Hello
                    ? ForeignPeer.NotAnOmniStoreNode(result.Buffer)
                    : new OmniStoreException(OmniStoreError.ProtocolError, violation);
                if (answerViolations)
                {
                    await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.ProtocolError, $"Refused: {refusal.Message}"), cancellationToken).ConfigureAwait(false);
                }

                throw refusal;
            }

            if (status == FrameParseStatus.Frame)
            {
                var bytes = payload.ToArray();
                input.AdvanceTo(buffer.Start);
                if (header.Type == FrameType.Error)
                {
                    throw ErrorMessage.Decode(bytes);
                }

                return bytes;
            }

            if (result.IsCompleted && expected == FrameType.Hello && !result.Buffer.IsEmpty)
            {
                throw ForeignPeer.NotAnOmniStoreNode(result.Buffer);
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new OmniStoreException(OmniStoreError.Unavailable, "The peer closed the connection during the handshake.");
            }
        }
    }

    /// <summary>
    /// What is wrong with a handshake frame's header, or null. A handshake frame is one whole
    /// message on stream 0, of the type expected (or ERROR), no longer than that message can be:
    /// checked from the header, so a peer that announces a large payload is refused before it is buffered.
    /// </summary>
    private static string? HandshakeHeaderProblem(FrameHeader header, FrameType expected)
    {
        if (header.Stream != 0 || (header.Flags & FrameFlags.End) == 0)
        {
            return "The peer sent a multi-frame or non-zero-stream message during the handshake.";
        }

        if (header.Type != expected && header.Type != FrameType.Error)
        {
            return $"Expected {expected} during the handshake, got {header.Type}.";
        }

        int max = Handshake.MaxPayload(header.Type);
        return header.PayloadLength > max ? $"The peer sent a {header.Type} of {header.PayloadLength} bytes during the handshake; it is at most {max}." : null;
    }
}
