using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// An 8-byte connection id, picked at random by the end that receives packets with it: the key
/// its socket routes a datagram by, and what an off-path attacker would have to guess to inject one
/// (docs/rudp.md, "Connection ids, the handshake and the retry cookie").
/// </summary>
internal readonly record struct ConnectionId(ulong Value)
{
    public const int Size = 8;

    public static ConnectionId NewRandom()
    {
        Span<byte> bytes = stackalloc byte[Size];
        RandomNumberGenerator.Fill(bytes);
        return Read(bytes);
    }

    public static ConnectionId Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt64BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, Value);

    public override string ToString() => Value.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
}
