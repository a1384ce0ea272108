using System.Buffers;
using System.IO.Pipelines;

namespace OmniStore.Protocol;

internal sealed partial class PeerConnection
{
    private int _unansweredAtClose;

    /// <summary>
    /// Whether this end opened the connection. A node opens only the connection to its parent and
    /// accepts only its children's, so this tells which requests the peer may send (docs/protocol.md, "Messages").
    /// </summary>
    public bool IsOpener => _isOpener;

    /// <summary>
    /// Requests from the peer that had not been answered when the connection closed (0 while it is
    /// open). A relay whose parent link closed with an UPDATE unanswered may have missed a rebinding.
    /// </summary>
    public int UnansweredAtClose => Volatile.Read(ref _unansweredAtClose);

    private static async Task<(HelloMessage Remote, ushort Version)> OpenerHandshakeAsync(IDuplexPipe pipe, ConnectionIdentity local, CancellationToken cancellationToken)
    {
        var nonce = Handshake.NewNonce();
        var hello = new HelloMessage(ProtocolLimits.MinVersion, ProtocolLimits.MaxVersion, local.NodeId, local.Role, local.Site, nonce, local.Secret is not null, []);
        await WriteFrameAsync(pipe.Output, FrameType.Hello, hello.Encode(), cancellationToken).ConfigureAwait(false);

        var answer = HelloMessage.Decode(await ExpectFrameAsync(pipe.Input, FrameType.Hello, cancellationToken).ConfigureAwait(false));
        if (answer.MinVersion != answer.MaxVersion || answer.MinVersion is < ProtocolLimits.MinVersion or > ProtocolLimits.MaxVersion)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"The peer chose protocol version {answer.MinVersion}..{answer.MaxVersion}; this build speaks {ProtocolLimits.MinVersion}..{ProtocolLimits.MaxVersion}.");
        }

        byte[] proof = [];
        if (local.Secret is { } secret)
        {
            string? refusal = answer.Proof.Length == 0
                ? "the peer has no shared secret, but this node requires one"
                : Handshake.Verify(Handshake.AcceptorProof(secret, nonce, answer.Nonce), answer.Proof) ? null : "the peer's shared secret does not match this node's";
            if (refusal is not null)
            {
                await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.Unauthorized, $"Refused: {refusal}."), cancellationToken).ConfigureAwait(false);
                throw new OmniStoreException(OmniStoreError.Unauthorized, $"Refused the connection: {refusal}.");
            }

            proof = Handshake.OpenerProof(secret, nonce, answer.Nonce);
        }

        // A relay proves the relay secret after the shared one (docs/protocol.md, "Handshake"):
        // whether to accept it as a relay is the acceptor's decision, told in its answer.
        if (local.Role == NodeRole.Relay && local.RelaySecret is { } relaySecret)
        {
            proof = [.. proof, .. Handshake.RelayProof(relaySecret, nonce, answer.Nonce, local.Role, answer.Role)];
        }

        await WriteFrameAsync(pipe.Output, FrameType.Auth, proof, cancellationToken).ConfigureAwait(false);
        await ExpectFrameAsync(pipe.Input, FrameType.Ready, cancellationToken).ConfigureAwait(false);
        return (answer, answer.MinVersion);
    }

    private static async Task<(HelloMessage Remote, ushort Version)> AcceptorHandshakeAsync(IDuplexPipe pipe, ConnectionIdentity local, CancellationToken cancellationToken)
    {
        var hello = await ReadHelloAsync(pipe, cancellationToken).ConfigureAwait(false);
        ushort low = Math.Max(hello.MinVersion, ProtocolLimits.MinVersion);
        ushort high = Math.Min(hello.MaxVersion, ProtocolLimits.MaxVersion);
        if (low > high)
        {
            string problem = $"no common protocol version: the peer speaks {hello.MinVersion}..{hello.MaxVersion}, this node {ProtocolLimits.MinVersion}..{ProtocolLimits.MaxVersion}";
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.ProtocolError, problem), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"Refused the connection: {problem}.");
        }

        var nonce = Handshake.NewNonce();
        var proof = local.Secret is { } secret ? Handshake.AcceptorProof(secret, hello.Nonce, nonce) : [];
        var answer = new HelloMessage(high, high, local.NodeId, local.Role, local.Site, nonce, local.Secret is not null, proof);
        await WriteFrameAsync(pipe.Output, FrameType.Hello, answer.Encode(), cancellationToken).ConfigureAwait(false);

        var auth = await ExpectFrameAsync(pipe.Input, FrameType.Auth, cancellationToken).ConfigureAwait(false);

        // AUTH: the shared-secret proof when the opener's HELLO says it holds the secret, then a
        // relay's proof of the relay secret, if it has one.
        int sharedLength = hello.SecretRequired ? Handshake.ProofSize : 0;
        if (auth.Length != sharedLength && !(auth.Length == sharedLength + Handshake.ProofSize && hello.Role == NodeRole.Relay))
        {
            string problem = $"an AUTH of {auth.Length} bytes from a {hello.Role.ToString().ToLowerInvariant()} that {(hello.SecretRequired ? "holds" : "does not hold")} the shared secret";
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.ProtocolError, problem), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"Refused the connection: {problem}.");
        }

        var sharedProof = auth.AsSpan(0, sharedLength);
        var relayProof = auth.AsSpan(sharedLength);
        string? refusal = null;
        if (local.Secret is { } expected && !Handshake.Verify(Handshake.OpenerProof(expected, hello.Nonce, nonce), sharedProof))
        {
            refusal = sharedProof.Length == 0 ? "the peer sent no shared secret, and this node requires one" : "the peer's shared secret does not match this node's";
        }

        refusal ??= hello.Role switch
        {
            NodeRole.Root => "a child cannot be the root: this node accepts clients and relays",
            NodeRole.Relay => RelayRefusal(local, hello, nonce, relayProof),
            _ => null,
        };
        refusal ??= local.Admission?.Invoke(hello);
        if (refusal is not null)
        {
            await WriteFrameAsync(pipe.Output, FrameType.Error, ErrorMessage.Encode(OmniStoreError.Unauthorized, $"Refused: {refusal}."), cancellationToken).ConfigureAwait(false);
            throw new OmniStoreException(OmniStoreError.Unauthorized, $"Refused the connection: {refusal}.");
        }

        await WriteFrameAsync(pipe.Output, FrameType.Ready, [], cancellationToken).ConfigureAwait(false);
        return (hello, high);
    }

    /// <summary>
    /// Why an opener that says it is a relay is not taken as one, or null. A relay is waited for on
    /// every rebinding and sent every broadcast chunk, so the role is granted only to a peer that
    /// proves the relay secret, or by a node told to trust its network.
    /// </summary>
    private static string? RelayRefusal(ConnectionIdentity local, HelloMessage hello, byte[] acceptorNonce, ReadOnlySpan<byte> proof)
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

        return Handshake.Verify(Handshake.RelayProof(relaySecret, hello.Nonce, acceptorNonce, hello.Role, local.Role), proof)
            ? null
            : "this node accepts relays only with its relay secret, and the peer's does not match";
    }

    /// <summary>The opener's HELLO; one this node refuses (a bad site, say) is answered with an ERROR that says why.</summary>
    private static async Task<HelloMessage> ReadHelloAsync(IDuplexPipe pipe, CancellationToken cancellationToken)
    {
        var payload = await ExpectFrameAsync(pipe.Input, FrameType.Hello, cancellationToken).ConfigureAwait(false);
        try
        {
            return HelloMessage.Decode(payload);
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

    /// <summary>Reads one handshake frame; an ERROR from the peer is thrown as what it says.</summary>
    private static async Task<byte[]> ExpectFrameAsync(PipeReader input, FrameType expected, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = FrameParser.TryRead(ref buffer, out var header, out var payload, out string? problem);
            if (status == FrameParseStatus.Frame)
            {
                var bytes = payload.ToArray();
                input.AdvanceTo(buffer.Start);
                if (header.Stream != 0 || (header.Flags & FrameFlags.End) == 0)
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, "The peer sent a multi-frame or non-zero-stream message during the handshake.");
                }

                if (header.Type == FrameType.Error)
                {
                    throw ErrorMessage.Decode(bytes);
                }

                if (header.Type != expected)
                {
                    throw new OmniStoreException(OmniStoreError.ProtocolError, $"Expected {expected} during the handshake, got {header.Type}.");
                }

                return bytes;
            }

            // The first bytes of a peer that are no frame come from something else than a node
            // (the status port given by mistake answers HTTP): say so rather than quote frame limits.
            if (status == FrameParseStatus.Malformed)
            {
                throw expected == FrameType.Hello
                    ? ForeignPeer.NotAnOmniStoreNode(result.Buffer)
                    : new OmniStoreException(OmniStoreError.ProtocolError, $"Malformed frame during the handshake: {problem}.");
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
}
