using System.Buffers.Binary;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// QUIC's variable-length integer (RFC 9000 section 16): the two high bits of the first byte give
/// the length (1, 2, 4 or 8 bytes), the rest is the value, big-endian; values below 2^62.
/// </summary>
internal static class Varint
{
    /// <summary>The largest value a varint holds: 2^62 - 1.</summary>
    public const ulong Max = (1UL << 62) - 1;

    /// <summary>The bytes <paramref name="value"/> takes, the fewest possible.</summary>
    public static int SizeOf(ulong value) => value switch
    {
        < 1UL << 6 => 1,
        < 1UL << 14 => 2,
        < 1UL << 30 => 4,
        <= Max => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(value), value, "A varint holds values below 2^62."),
    };

    /// <summary>Writes <paramref name="value"/> in its shortest form; returns the bytes written.</summary>
    public static int Write(Span<byte> destination, ulong value)
    {
        int size = SizeOf(value);
        switch (size)
        {
            case 1:
                destination[0] = (byte)value;
                break;
            case 2:
                BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(value | 0x4000));
                break;
            case 4:
                BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)value | 0x8000_0000);
                break;
            default:
                BinaryPrimitives.WriteUInt64BigEndian(destination, value | 0xC000_0000_0000_0000);
                break;
        }

        return size;
    }

    /// <summary>
    /// Writes <paramref name="value"/> in exactly <paramref name="size"/> bytes (2, 4 or 8), which
    /// may be longer than its shortest form: RFC 9000 section 16 lets a value take any length that
    /// holds it, and a header of known size lets a frame's data be copied once, straight to its place.
    /// </summary>
    public static void WriteFixed(Span<byte> destination, ulong value, int size)
    {
        if (SizeOf(value) > size)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, $"{value} does not fit a varint of {size} bytes.");
        }

        switch (size)
        {
            case 2:
                BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(value | 0x4000));
                break;
            case 4:
                BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)value | 0x8000_0000);
                break;
            case 8:
                BinaryPrimitives.WriteUInt64BigEndian(destination, value | 0xC000_0000_0000_0000);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(size), size, "A fixed varint is 2, 4 or 8 bytes.");
        }
    }

    /// <summary>
    /// Reads a varint from the start of <paramref name="source"/>: false when the bytes end before
    /// it does (a truncated datagram), never an exception.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int size)
    {
        value = 0;
        size = 0;
        if (source.IsEmpty)
        {
            return false;
        }

        int length = 1 << (source[0] >> 6);
        if (source.Length < length)
        {
            return false;
        }

        size = length;
        value = length switch
        {
            1 => source[0],
            2 => BinaryPrimitives.ReadUInt16BigEndian(source) & 0x3FFFUL,
            4 => BinaryPrimitives.ReadUInt32BigEndian(source) & 0x3FFF_FFFFUL,
            _ => BinaryPrimitives.ReadUInt64BigEndian(source) & Max,
        };
        return true;
    }
}
