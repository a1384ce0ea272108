using System.Security.Cryptography;
using System.Text;

namespace OmniStore.Protocol;

/// <summary>
/// The proofs of the handshake's challenge-response: HMAC-SHA256 of both sides' fresh nonces, so
/// the shared secret never crosses the wire and a recorded handshake cannot be replayed. A relay
/// also proves the tree's relay secret, over the same nonces and both ends' roles.
/// </summary>
internal static class Handshake
{
    private static readonly byte[] AcceptorLabel = Encoding.ASCII.GetBytes("omnistore/acceptor");
    private static readonly byte[] OpenerLabel = Encoding.ASCII.GetBytes("omnistore/opener");
    private static readonly byte[] RelayLabel = Encoding.ASCII.GetBytes("omnistore/relay");

    /// <summary>The size of every proof: an HMAC-SHA256.</summary>
    public const int ProofSize = HMACSHA256.HashSizeInBytes;

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(HelloMessage.NonceSize);

    public static byte[] AcceptorProof(byte[] secret, byte[] openerNonce, byte[] acceptorNonce) =>
        Prove(secret, AcceptorLabel, openerNonce, acceptorNonce);

    public static byte[] OpenerProof(byte[] secret, byte[] openerNonce, byte[] acceptorNonce) =>
        Prove(secret, OpenerLabel, acceptorNonce, openerNonce);

    /// <summary>
    /// The opener's proof that it may be a relay: HMAC-SHA256(relay secret, "omnistore/relay" |
    /// opener nonce | acceptor nonce | opener role | acceptor role). The roles are in it so that a
    /// proof made for one pair of roles proves nothing for another.
    /// </summary>
    public static byte[] RelayProof(byte[] relaySecret, byte[] openerNonce, byte[] acceptorNonce, NodeRole openerRole, NodeRole acceptorRole) =>
        Prove(relaySecret, RelayLabel, openerNonce, [.. acceptorNonce, (byte)openerRole, (byte)acceptorRole]);

    public static bool Verify(byte[] expected, ReadOnlySpan<byte> actual) =>
        actual.Length == expected.Length && CryptographicOperations.FixedTimeEquals(expected, actual);

    private static byte[] Prove(byte[] secret, byte[] label, byte[] first, byte[] second)
    {
        var message = new byte[label.Length + first.Length + second.Length];
        label.CopyTo(message, 0);
        first.CopyTo(message, label.Length);
        second.CopyTo(message, label.Length + first.Length);
        return HMACSHA256.HashData(secret, message);
    }
}
