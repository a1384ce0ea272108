using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;

namespace OmniStore.Protocol;

/// <summary>
/// A node's id: the first 16 bytes of SHA-256 over its public key's SubjectPublicKeyInfo, so a
/// node can prove its id with its private key (docs/protocol.md, "Node identity"). On the wire it
/// is those 16 bytes; as text, 32 lower-case hex digits.
/// </summary>
internal readonly record struct NodeId : ISpanFormattable
{
    /// <summary>Size of the binary form, in bytes.</summary>
    public const int Size = 16;

    /// <summary>Hex digits of the short form that names a peer in log lines.</summary>
    public const int ShortLength = 8;

    private readonly UInt128 _value;

    private NodeId(UInt128 value) => _value = value;

    /// <summary>The id of the node whose public key is <paramref name="subjectPublicKeyInfo"/> (DER).</summary>
    public static NodeId FromPublicKey(ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(subjectPublicKeyInfo, hash);
        return Read(hash);
    }

    /// <summary>Reads the 16-byte binary form (its first byte is the first of the text form).</summary>
    public static NodeId Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt128BigEndian(source[..Size]));

    /// <summary>Writes the 16-byte binary form.</summary>
    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt128BigEndian(destination[..Size], _value);

    /// <summary>Parses 32 hex digits.</summary>
    public static NodeId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a node id (32 hex digits).");

    /// <summary>Parses 32 hex digits (either case).</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out NodeId id)
    {
        id = default;
        if (text is not { Length: 2 * Size } || !UInt128.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        id = new NodeId(value);
        return true;
    }

    /// <summary>The first <see cref="ShortLength"/> hex digits: enough to tell the peers of one node apart in a log line.</summary>
    public string ToShortString() => ToString()[..ShortLength];

    /// <summary>32 lower-case hex digits.</summary>
    public override string ToString() => _value.ToString("x32", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        _value.TryFormat(destination, out charsWritten, "x32", CultureInfo.InvariantCulture);
}
