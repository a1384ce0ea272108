using System.Diagnostics.CodeAnalysis;
using OmniStore.Content.Internal;

namespace OmniStore.Content;

/// <summary>
/// The content id of a manifest: the XXH3-128 of its binary form (see <see cref="Manifest"/>).
/// A separate type from <see cref="ChunkId"/> so that the two kinds of id cannot be mixed up.
/// </summary>
public readonly record struct ManifestId : ISpanFormattable
{
    /// <summary>Size of the binary form, in bytes.</summary>
    public const int Size = ContentHash.Size;

    /// <summary>Wraps a 128-bit hash value.</summary>
    public ManifestId(UInt128 value) => Value = value;

    /// <summary>The 128-bit hash value.</summary>
    public UInt128 Value { get; }

    /// <summary>Computes the id of <paramref name="manifest"/>.</summary>
    public static ManifestId Compute(ReadOnlySpan<byte> manifest) => new(XxHash3.Hash128(manifest));

    /// <summary>Whether <paramref name="manifest"/> hashes to this id.</summary>
    public bool Matches(ReadOnlySpan<byte> manifest) => XxHash3.Hash128(manifest) == Value;

    /// <summary>Reads the 16-byte canonical binary form.</summary>
    public static ManifestId Read(ReadOnlySpan<byte> source) => new(ContentHash.Read(source));

    /// <summary>Writes the 16-byte canonical binary form (the byte order <c>xxhsum -H2</c> prints).</summary>
    public void Write(Span<byte> destination) => ContentHash.Write(Value, destination);

    /// <summary>Parses 32 hex digits.</summary>
    public static ManifestId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a 32-digit hex manifest id.");

    /// <summary>Parses 32 hex digits.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out ManifestId id)
    {
        id = default;
        if (text is null || !ContentHash.TryParseHex(text, out var value))
        {
            return false;
        }

        id = new ManifestId(value);
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
