using System.Buffers.Binary;
using System.Globalization;

namespace OmniStore.Content.Internal;

/// <summary>
/// Shared text and binary forms of a 128-bit content hash. The byte order is XXH128's canonical
/// form (high 64 bits first, each big-endian), the order <c>xxhsum -H2</c> prints.
/// </summary>
internal static class ContentHash
{
    public const int Size = 16;

    public static void Write(UInt128 value, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, (ulong)(value >> 64));
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], (ulong)value);
    }

    public static UInt128 Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));

    public static string ToHex(UInt128 value) => value.ToString("x32", CultureInfo.InvariantCulture);

    public static bool TryParseHex(ReadOnlySpan<char> text, out UInt128 value)
    {
        value = default;
        return text.Length == 2 * Size
            && UInt128.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
