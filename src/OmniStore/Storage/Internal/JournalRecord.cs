using System.Buffers.Binary;
using System.Text;
using OmniStore.Content;

namespace OmniStore.Storage.Internal;

/// <summary>
/// One journaled write: a name's new binding and, when it binds an object, the object's manifest
/// and the bytes of each of its distinct chunks, so that replaying it needs nothing else.
/// </summary>
/// <remarks>
/// Payload: kind (1 byte: 1; 2 for a binding that expires; 3 for one that ends with its change's
/// number, 8 bytes; 4 for both), name length (2) and UTF-8 name, the binding
/// (<see cref="Binding.EncodedSize"/> bytes, or <see cref="Binding.EncodedSizeWithExpiry"/> when it expires),
/// manifest length (4) and encoded manifest (0 bytes for an unbinding), chunk count (4) and, per
/// chunk, its length (4) and bytes. Every length is checked against what follows it and against the
/// store's limits before anything is allocated from it.
/// </remarks>
internal sealed record JournalRecord(string Name, Binding Binding, Manifest? Manifest, IReadOnlyList<ReadOnlyMemory<byte>> Chunks, long Sequence = 0)
{
    private const byte Kind = 1;

    /// <summary>The kind of a record whose binding expires: a store of a build before expiries never wrote one.</summary>
    private const byte KindWithExpiry = 2;

    // Kind 1 and the change's number (docs/watch.md, "Sequence"); a store of a build before it wrote neither.
    private const byte NumberedKind = 3;

    // Kind 2 and the change's number.
    private const byte NumberedKindWithExpiry = 4;

    /// <summary>The payload's size for an object of <paramref name="objectBytes"/> in <paramref name="chunks"/> chunks with this manifest.</summary>
    private static int SizeOf(string name, int bindingBytes, int manifestBytes, int chunks, long objectBytes) =>
        checked(1 + 2 + Encoding.UTF8.GetByteCount(name) + bindingBytes + 4 + manifestBytes + 4 + (4 * chunks) + (int)objectBytes);

    public byte[] Encode()
    {
        var manifest = Manifest?.ToBytes() ?? [];
        long total = 0;
        foreach (var chunk in Chunks)
        {
            total += chunk.Length;
        }

        bool numbered = Sequence > 0;
        var payload = new byte[SizeOf(Name, Binding.EncodedLength, manifest.Length, Chunks.Count, total) + (numbered ? 8 : 0)];
        var span = payload.AsSpan();
        span[0] = (Binding.Expires, numbered) switch
        {
            (false, false) => Kind,
            (true, false) => KindWithExpiry,
            (false, true) => NumberedKind,
            (true, true) => NumberedKindWithExpiry,
        };
        int nameLength = Encoding.UTF8.GetBytes(Name, span[3..]);
        BinaryPrimitives.WriteUInt16LittleEndian(span[1..], (ushort)nameLength);
        int at = 3 + nameLength;
        Binding.Write(span.Slice(at, Binding.EncodedLength));
        at += Binding.EncodedLength;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], manifest.Length);
        manifest.CopyTo(span[(at + 4)..]);
        at += 4 + manifest.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], Chunks.Count);
        at += 4;
        foreach (var chunk in Chunks)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[at..], chunk.Length);
            chunk.Span.CopyTo(span[(at + 4)..]);
            at += 4 + chunk.Length;
        }

        if (numbered)
        {
            BinaryPrimitives.WriteInt64LittleEndian(span[at..], Sequence);
        }

        return payload;
    }

    /// <summary>Decodes and checks a payload read from disk: the name, the manifest against the binding's id, every chunk against the manifest.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Corrupt"/> for anything malformed.</exception>
    public static JournalRecord Decode(ReadOnlyMemory<byte> payload, int maxChunkSize)
    {
        var span = payload.Span;
        if (span.Length < 3 || span[0] is not (Kind or KindWithExpiry or NumberedKind or NumberedKindWithExpiry))
        {
            throw Malformed("an unknown kind");
        }

        int bindingLength = span[0] is KindWithExpiry or NumberedKindWithExpiry ? Binding.EncodedSizeWithExpiry : Binding.EncodedSize;
        long sequence = 0;
        if (span[0] is NumberedKind or NumberedKindWithExpiry)
        {
            if (span.Length < 3 + 8)
            {
                throw Malformed("no room for its change's number");
            }

            sequence = BinaryPrimitives.ReadInt64LittleEndian(span[^8..]);
            if (sequence <= 0)
            {
                throw Malformed($"change number {sequence}");
            }

            payload = payload[..^8];
            span = payload.Span;
        }

        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(span[1..]);
        if (nameLength > ObjectName.MaxByteLength || span.Length < 3 + nameLength + bindingLength + 8)
        {
            throw Malformed("a name too long for it");
        }

        string name;
        try
        {
            name = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(span.Slice(3, nameLength));
        }
        catch (DecoderFallbackException)
        {
            throw Malformed("a name that is not UTF-8");
        }

        if (!ObjectName.IsValid(name, out _))
        {
            throw Malformed("an invalid name");
        }

        int at = 3 + nameLength;
        var binding = Binding.Read(span.Slice(at, bindingLength));
        at += bindingLength;
        int manifestLength = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
        at += 4;
        if (manifestLength < 0 || manifestLength > span.Length - at - 4 || (manifestLength == 0) == binding.IsBound)
        {
            throw Malformed("a manifest length that does not fit");
        }

        Manifest? manifest = null;
        if (binding.IsBound)
        {
            try
            {
                manifest = Manifest.Parse(span.Slice(at, manifestLength), binding.ManifestId);
            }
            catch (Exception ex) when (ex is OmniStoreException or FormatException or ArgumentException)
            {
                throw Malformed($"a manifest that does not parse ({ex.Message})");
            }
        }

        at += manifestLength;
        int count = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
        at += 4;
        var expected = manifest is null ? [] : new HashSet<ChunkId>(manifest.Chunks);
        if (count < 0 || count != expected.Count)
        {
            throw Malformed("a chunk count that does not match its manifest");
        }

        var chunks = new ReadOnlyMemory<byte>[count];
        for (int i = 0; i < count; i++)
        {
            int length = span.Length - at >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(span[at..]) : -1;
            if (length < 0 || length > maxChunkSize || length > span.Length - at - 4)
            {
                throw Malformed("a chunk length that does not fit");
            }

            chunks[i] = payload.Slice(at + 4, length);
            if (!expected.Remove(ChunkId.Compute(chunks[i].Span)))
            {
                throw Malformed("a chunk its manifest does not list");
            }

            at += 4 + length;
        }

        if (at != span.Length)
        {
            throw Malformed("bytes after its last chunk");
        }

        return new JournalRecord(name, binding, manifest, chunks, sequence);
    }

    private static OmniStoreException Malformed(string what) =>
        new(OmniStoreError.Corrupt, $"a journal record with {what}");
}
