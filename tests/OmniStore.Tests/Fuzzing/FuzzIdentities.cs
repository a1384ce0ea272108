using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// The keys and nonces of the fuzzer's handshakes, fixed so that a recorded opener's handshake
/// stays valid: the acceptor's HELLO is then the same on every run, up to its signature, which
/// the opener's signature does not cover. Each signature still has to hold, so the connection
/// target reaches its read loop only through a handshake that a node would accept.
/// </summary>
internal static class FuzzIdentities
{
    public static NodeIdentity Opener { get; } = TestKeys.Fixed("omnistore fuzz opener");

    public static NodeIdentity Acceptor { get; } = TestKeys.Fixed("omnistore fuzz acceptor");

    public static byte[] OpenerNonce() => [.. Enumerable.Range(0, HelloMessage.NonceSize).Select(i => (byte)i)];

    public static byte[] AcceptorNonce() => [.. Enumerable.Range(0x80, HelloMessage.NonceSize).Select(i => (byte)i)];

    /// <summary>
    /// The connection target's own identity: a relay without secrets, whose nonce is fixed, and which
    /// takes the fuzz opener as a parent that dials it (so that a parent's handshake reaches the read loop too).
    /// </summary>
    public static ConnectionIdentity AcceptorIdentity { get; } = new(Acceptor, NodeRole.Relay, "fuzz", Secret: null) { Nonces = AcceptorNonce, AcceptsParent = Opener.Id };

    /// <summary>The acceptor's HELLO in answer to <paramref name="openerHello"/>, as the connection target sends it (its signature differs every time).</summary>
    public static byte[] AcceptorHello(byte[] openerHello)
    {
        // The highest version both speak, as a node chooses it (the opener's range is in bytes 0-3 of every version's HELLO).
        var version = Math.Min(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(openerHello.AsSpan(2)), ProtocolLimits.MaxVersion);
        var answer = new HelloMessage(version, version, Acceptor.Id, AcceptorIdentity.Role, AcceptorIdentity.Site, AcceptorNonce(), false, [])
        {
            PublicKey = Acceptor.PublicKey,
            // The acceptor repeats the side asked for: read from the flags alone (bits 1-2), since
            // a seed's HELLO may be one that a node refuses for another field (a site with a control character).
            OpenerSide = (TreeSide)((openerHello[21] >> 1) & 0b11),
        };
        return Handshake.SignAcceptorHello(Acceptor, openerHello, answer);
    }
}
