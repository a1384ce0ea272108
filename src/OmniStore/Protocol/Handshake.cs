using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace OmniStore.Protocol;

/// <summary>
/// What each side of the handshake proves (docs/protocol.md, "Proofs"): the shared and relay
/// secrets, as HMAC-SHA256 over the connection's context (both nonces, ids and roles, and the
/// opener's side), so a secret never crosses the wire and a recorded handshake cannot be replayed;
/// and its node id, as an ECDSA signature over every handshake byte sent before it, so no peer can
/// answer to an id it has no key for.
/// </summary>
internal static class Handshake
{
    private static readonly byte[] AcceptorLabel = Encoding.ASCII.GetBytes("omnistore/acceptor");
    private static readonly byte[] OpenerLabel = Encoding.ASCII.GetBytes("omnistore/opener");
    private static readonly byte[] RelayLabel = Encoding.ASCII.GetBytes("omnistore/relay");
    private static readonly byte[] AcceptorSignatureLabel = Encoding.ASCII.GetBytes("omnistore/2/acceptor");
    private static readonly byte[] OpenerSignatureLabel = Encoding.ASCII.GetBytes("omnistore/2/opener");

    /// <summary>The size of every proof: an HMAC-SHA256.</summary>
    public const int ProofSize = HMACSHA256.HashSizeInBytes;

    /// <summary>
    /// The most payload each handshake frame may announce, checked when its header arrives, before
    /// the payload is buffered (docs/protocol.md, "Refusals and limits").
    /// </summary>
    public static int MaxPayload(FrameType type) => type switch
    {
        FrameType.Hello => HelloMessage.MaxAcceptorSize,
        FrameType.Auth => AuthMessage.MaxSize,
        FrameType.Ready => ProofSize, // from version 6: the acceptor's proof of the shared secret
        FrameType.Error => 2 + ErrorMessage.MaxMessageBytes,
        _ => 0,
    };

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(HelloMessage.NonceSize);

    /// <summary>
    /// What every proof of a secret covers: nonce_opener | nonce_acceptor | id_opener | id_acceptor |
    /// role_opener | role_acceptor | opener_side. The side is the one the opener asked for; an
    /// opener takes no answer that names another, so a proof made for one side proves nothing for the other.
    /// </summary>
    public static byte[] Context(HelloMessage opener, HelloMessage acceptor)
    {
        var context = new byte[(2 * HelloMessage.NonceSize) + (2 * NodeId.Size) + 3];
        opener.Nonce.CopyTo(context, 0);
        acceptor.Nonce.CopyTo(context, HelloMessage.NonceSize);
        opener.NodeId.Write(context.AsSpan(2 * HelloMessage.NonceSize));
        acceptor.NodeId.Write(context.AsSpan((2 * HelloMessage.NonceSize) + NodeId.Size));
        context[^3] = (byte)opener.Role;
        context[^2] = (byte)acceptor.Role;
        context[^1] = (byte)opener.OpenerSide;
        return context;
    }

    public static byte[] AcceptorProof(byte[] secret, byte[] context) => Prove(secret, AcceptorLabel, context);

    public static byte[] OpenerProof(byte[] secret, byte[] context) => Prove(secret, OpenerLabel, context);

    /// <summary>
    /// The opener's proof that it may be a relay. The roles are in the context so that a proof made
    /// for one pair of roles proves nothing for another.
    /// </summary>
    public static byte[] RelayProof(byte[] relaySecret, byte[] context) => Prove(relaySecret, RelayLabel, context);

    public static bool Verify(byte[] expected, ReadOnlySpan<byte> actual) =>
        actual.Length == expected.Length && CryptographicOperations.FixedTimeEquals(expected, actual);

    /// <summary>What the acceptor signs: both HELLOs as sent, its own up to its signature.</summary>
    public static byte[] AcceptorSigned(ReadOnlySpan<byte> openerHello, ReadOnlySpan<byte> unsignedAcceptorHello) =>
        Transcript(AcceptorSignatureLabel, openerHello, unsignedAcceptorHello, []);

    /// <summary>What the opener signs: both HELLOs (the acceptor's up to its signature) and its AUTH up to its own.</summary>
    public static byte[] OpenerSigned(ReadOnlySpan<byte> openerHello, ReadOnlySpan<byte> unsignedAcceptorHello, ReadOnlySpan<byte> unsignedAuth) =>
        Transcript(OpenerSignatureLabel, openerHello, unsignedAcceptorHello, unsignedAuth);

    /// <summary>A message without its signature trailer: what its signature covers.</summary>
    public static ReadOnlySpan<byte> Unsigned(ReadOnlySpan<byte> signedMessage) => signedMessage[..^HelloMessage.SignatureTrailerSize];

    /// <summary>An acceptor's HELLO, signed: <paramref name="unsigned"/> (encoded without a signature) with its signature appended.</summary>
    public static byte[] SignAcceptorHello(NodeIdentity key, ReadOnlySpan<byte> openerHello, HelloMessage unsigned)
    {
        var bytes = unsigned.Encode(fromAcceptor: true);
        var prefix = bytes.AsSpan(0, bytes.Length - 1);
        return [.. prefix, NodeIdentity.SignatureSize, .. key.Sign(AcceptorSigned(openerHello, prefix))];
    }

    /// <summary>The opener's AUTH, signed.</summary>
    public static byte[] SignAuth(NodeIdentity key, ReadOnlySpan<byte> openerHello, ReadOnlySpan<byte> acceptorHello, byte[] proof, byte[] relayProof)
    {
        var bytes = new AuthMessage(proof, relayProof, key.PublicKey, []).Encode();
        var prefix = bytes.AsSpan(0, bytes.Length - 1);
        return [.. prefix, NodeIdentity.SignatureSize, .. key.Sign(OpenerSigned(openerHello, Unsigned(acceptorHello), prefix))];
    }

    /// <summary>The label, then each part preceded by its length (2 bytes, little-endian): no two different handshakes give one transcript.</summary>
    private static byte[] Transcript(byte[] label, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, ReadOnlySpan<byte> third)
    {
        bool hasThird = !third.IsEmpty;
        var transcript = new byte[label.Length + 2 + first.Length + 2 + second.Length + (hasThird ? 2 + third.Length : 0)];
        label.CopyTo(transcript, 0);
        int at = Append(transcript, label.Length, first);
        at = Append(transcript, at, second);
        if (hasThird)
        {
            Append(transcript, at, third);
        }

        return transcript;
    }

    private static int Append(byte[] transcript, int at, ReadOnlySpan<byte> part)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(transcript.AsSpan(at), (ushort)part.Length);
        part.CopyTo(transcript.AsSpan(at + 2));
        return at + 2 + part.Length;
    }

    private static byte[] Prove(byte[] secret, byte[] label, byte[] context) => HMACSHA256.HashData(secret, (byte[])[.. label, .. context]);
}
