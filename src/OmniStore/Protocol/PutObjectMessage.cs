using System.Buffers.Binary;
using System.Text;
using OmniStore.Content;

namespace OmniStore.Protocol;

/// <summary>
/// PUT_OBJECT (protocol version 5): a small object's name, manifest and bytes in one request, which
/// the root stores, binds and makes durable, answering BINDING as for BIND (docs/protocol.md,
/// "PUT_OBJECT"). Layout: flags (1 byte: bit 0 broadcast; bits 1-4 the conditions of version 8,
/// <see cref="PutConditions"/>) and their fields, name length (2) and UTF-8 name, manifest length (4)
/// and encoded manifest, then the object's bytes, exactly the manifest's length.
/// </summary>
internal sealed record PutObjectMessage(string Name, Manifest Manifest, bool Broadcast, ReadOnlyMemory<byte> Data, PutConditions Conditions = default)
{
    /// <summary>The largest object sent this way (a larger one takes PUT_CHUNK, PUT_MANIFEST and BIND).</summary>
    public const int MaxObject = 1 << 20;

    /// <summary>The largest manifest such an object has (one id per chunk of the smallest size, and then some).</summary>
    private const int MaxManifest = 64 << 10;

    /// <summary>The request's head (everything before the object's bytes), to send with the bytes as its body.</summary>
    public static byte[] EncodeHead(string name, Manifest manifest, bool broadcast, PutConditions conditions = default)
    {
        var encoded = manifest.ToBytes();
        int nameLength = Encoding.UTF8.GetByteCount(name);
        var head = new byte[1 + conditions.FieldsLength + 2 + nameLength + 4 + encoded.Length];
        head[0] = (byte)((broadcast ? 1 : 0) | conditions.Flags);
        int at = 1 + conditions.WriteFields(head.AsSpan(1));
        BinaryPrimitives.WriteUInt16LittleEndian(head.AsSpan(at), (ushort)nameLength);
        Encoding.UTF8.GetBytes(name, head.AsSpan(at + 2));
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(at + 2 + nameLength), encoded.Length);
        encoded.CopyTo(head.AsSpan(at + 6 + nameLength));
        return head;
    }

    /// <summary>
    /// Decodes a request and checks it whole: the name, the manifest, the object's length against
    /// it, and every chunk's bytes against its id.
    /// </summary>
    /// <exception cref="OmniStoreException">
    /// <see cref="OmniStoreError.ProtocolError"/> for a malformed request, <see cref="OmniStoreError.InvalidName"/>
    /// for its name, <see cref="OmniStoreError.InvalidArgument"/> for an object larger than
    /// <see cref="MaxObject"/>, <see cref="OmniStoreError.Corrupt"/> for bytes that do not match their ids.
    /// </exception>
    public static PutObjectMessage Decode(ReadOnlyMemory<byte> payload)
    {
        var reader = new PayloadReader(payload.Span);
        byte flags = reader.Byte();
        var conditions = PutConditions.Read(flags, "PUT_OBJECT", ref reader);
        int nameLength = reader.UInt16();
        if (nameLength > ObjectName.MaxByteLength)
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, $"Invalid object name: longer than {ObjectName.MaxByteLength} bytes.");
        }

        string name = Names.Decode(reader.Bytes(nameLength));
        int manifestLength = reader.Int32();
        if (manifestLength is < Manifest.HeaderSize or > MaxManifest)
        {
            throw HelloMessage.Malformed($"a PUT_OBJECT manifest of {manifestLength} bytes");
        }

        var manifest = Manifest.Parse(reader.Bytes(manifestLength));
        int at = payload.Length - reader.Remaining;
        var data = payload[at..];
        if (manifest.Layout.Length > MaxObject)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"PUT_OBJECT carries objects of up to {MaxObject} bytes; this one has {manifest.Layout.Length}.");
        }

        if (data.Length != manifest.Layout.Length)
        {
            throw HelloMessage.Malformed($"PUT_OBJECT carries {data.Length} bytes for an object of {manifest.Layout.Length}");
        }

        for (int i = 0; i < manifest.Chunks.Count; i++)
        {
            if (!manifest.Chunks[i].Matches(data.Span.Slice((int)manifest.Layout.OffsetOf(i), manifest.Layout.LengthOf(i))))
            {
                throw new OmniStoreException(OmniStoreError.Corrupt, $"Chunk {i} ({manifest.Chunks[i]}) of '{name}' arrived with bytes that do not match its id.");
            }
        }

        return new PutObjectMessage(name, manifest, (flags & 1) != 0, data, conditions);
    }

    /// <summary>The bytes of chunk <paramref name="index"/>.</summary>
    public ReadOnlyMemory<byte> Chunk(int index) => Data.Slice((int)Manifest.Layout.OffsetOf(index), Manifest.Layout.LengthOf(index));
}
