using System.Buffers.Binary;
using OmniStore.Content;

namespace OmniStore.Storage;

/// <summary>
/// A name's binding: the manifest it points at and its version. A deleted name keeps a tombstone
/// binding (<see cref="IsBound"/> false) so that its version never goes back.
/// </summary>
internal readonly record struct Binding(ManifestId ManifestId, long Version, bool IsBound)
{
    public const int EncodedSize = 8 + ManifestId.Size + 1;

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, Version);
        ManifestId.Write(destination[8..]);
        destination[8 + ManifestId.Size] = IsBound ? (byte)1 : (byte)0;
    }

    public static Binding Read(ReadOnlySpan<byte> source)
    {
        if (source.Length != EncodedSize || source[8 + ManifestId.Size] > 1)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, "Malformed name binding record.");
        }

        return new Binding(ManifestId.Read(source[8..]), BinaryPrimitives.ReadInt64LittleEndian(source), source[8 + ManifestId.Size] == 1);
    }
}
