using System.Diagnostics.CodeAnalysis;
using OmniStore.Content.Internal;

namespace OmniStore.Content;

/// <summary>
/// The content id of a chunk: the XXH3-128 of its bytes. Two chunks with the same bytes have the
/// same id, which is what lets a store keep identical chunks once.
/// </summary>
public readonly record struct ChunkId : ISpanFormattable
{
    /// <summary>Size of the binary form, in bytes.</summary>
    public const int Size = ContentHash.Size;

    /// <summary>Wraps a 128-bit hash value.</summary>
    public ChunkId(UInt128 value) => Value = value;

    /// <summary>The 128-bit hash value.</summary>
    public UInt128 Value { get; }

    /// <summary>Computes the id of <paramref name="chunk"/>.</summary>
    public static ChunkId Compute(ReadOnlySpan<byte> chunk) => new(XxHash3.Hash128(chunk));

    /// <summary>Whether <paramref name="chunk"/> hashes to this id.</summary>
    public bool Matches(ReadOnlySpan<byte> chunk) => XxHash3.Hash128(chunk) == Value;

    /// <summary>Reads the 16-byte canonical binary form.</summary>
    public static ChunkId Read(ReadOnlySpan<byte> source) => new(ContentHash.Read(source));

    /// <summary>Writes the 16-byte canonical binary form (the byte order <c>xxhsum -H2</c> prints).</summary>
    public void Write(Span<byte> destination) => ContentHash.Write(Value, destination);

    /// <summary>Parses 32 hex digits.</summary>
    public static ChunkId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a 32-digit hex chunk id.");

    /// <summary>Parses 32 hex digits.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out ChunkId id)
    {
        id = default;
        if (text is null || !ContentHash.TryParseHex(text, out var value))
        {
            return false;
        }

        id = new ChunkId(value);
        return true;
    }

    /// <summary>32 lower-case hex digits, as <c>xxhsum -H2</c> prints them.</summary>
    public override string ToString() => ContentHash.ToHex(Value);

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        Value.TryFormat(destination, out charsWritten, "x32", provider);
}
