using System.Buffers.Binary;
using OmniStore.Content;

namespace OmniStore.Storage;

/// <summary>
/// A name's binding: the manifest it points at, its version and, for a binding put with a time to
/// live, when it expires. A deleted name keeps a tombstone binding (<see cref="IsBound"/> false) so
/// that its version never goes back. <c>ExpiresUnixMs</c>: when the binding expires, in
/// milliseconds since the Unix epoch by the root's clock; 0 for never.
/// </summary>
internal readonly record struct Binding(ManifestId ManifestId, long Version, bool IsBound, long ExpiresUnixMs = 0)
{
    /// <summary>The record of a binding that does not expire (the only form before expiries).</summary>
    public const int EncodedSize = 8 + ManifestId.Size + 1;

    /// <summary>The record of a binding that expires: the same, then the expiry (docs/formats.md, "Binding record").</summary>
    public const int EncodedSizeWithExpiry = EncodedSize + 8;

    /// <summary>Whether the binding has an expiry.</summary>
    public bool Expires => ExpiresUnixMs != 0;

    /// <summary>The bytes <see cref="Write"/> writes.</summary>
    public int EncodedLength => Expires ? EncodedSizeWithExpiry : EncodedSize;

    /// <summary>Whether the name is bound at <paramref name="nowUnixMs"/>: bound, and not expired by then.</summary>
    public bool IsLiveAt(long nowUnixMs) => IsBound && (!Expires || nowUnixMs < ExpiresUnixMs);

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, Version);
        ManifestId.Write(destination[8..]);
        destination[8 + ManifestId.Size] = IsBound ? (byte)1 : (byte)0;
        if (Expires)
        {
            BinaryPrimitives.WriteInt64LittleEndian(destination[EncodedSize..], ExpiresUnixMs);
        }
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[EncodedLength];
        Write(bytes);
        return bytes;
    }

    public static Binding Read(ReadOnlySpan<byte> source)
    {
        if (source.Length is not (EncodedSize or EncodedSizeWithExpiry) || source[8 + ManifestId.Size] > 1)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, "Malformed name binding record.");
        }

        long expires = source.Length == EncodedSizeWithExpiry ? BinaryPrimitives.ReadInt64LittleEndian(source[EncodedSize..]) : 0;
        if (source.Length == EncodedSizeWithExpiry && expires <= 0)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, "Malformed name binding record: an expiry that is not a time.");
        }

        return new Binding(ManifestId.Read(source[8..]), BinaryPrimitives.ReadInt64LittleEndian(source), source[8 + ManifestId.Size] == 1, expires);
    }
}
