using System.Buffers.Binary;
using OmniStore.Content;

namespace OmniStore.Protocol;

/// <summary>
/// GET_OBJECT and OBJECT (protocol version 3; docs/protocol.md, "GET_OBJECT"): a small object in
/// one round trip. The request names the object and the most chunk bytes the asker takes inline;
/// the answer carries the binding, the manifest when it is small, and the bytes of a one-chunk
/// object no longer than asked. Whatever the answer leaves out, the asker fetches as before
/// (GET_MANIFEST, GET_CHUNK), so a node may always answer with the binding alone.
/// </summary>
internal static class ObjectMessages
{
    /// <summary>The most chunk bytes an OBJECT carries: larger objects gain nothing from a round trip less.</summary>
    public const int MaxInlineChunk = 64 * 1024;

    /// <summary>The longest manifest an OBJECT carries (a one-chunk manifest is well under 100 bytes).</summary>
    public const int MaxInlineManifest = 4 * 1024;

    /// <summary>The longest binding (a name of at most <see cref="ObjectName.MaxByteLength"/> bytes, an expiry).</summary>
    private const int MaxBinding = BindingMessage.MaxLength;

    private const byte HasManifest = 1;
    private const byte HasChunk = 2;

    /// <summary>The longest OBJECT answering a request for at most <paramref name="inline"/> chunk bytes.</summary>
    public static int MaxAnswerLength(int inline) =>
        2 + MaxBinding + 1 + 4 + MaxInlineManifest + Math.Clamp(inline, 0, MaxInlineChunk);

    /// <summary>The longest OBJECT answering the request whose payload starts with <paramref name="head"/>.</summary>
    public static int MaxAnswerLength(ReadOnlySpan<byte> head) =>
        MaxAnswerLength(head.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(head) : 0);

    public static byte[] EncodeRequest(string name, int inline)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(inline);
        var nameBytes = Names.Encode(name);
        var payload = new byte[4 + nameBytes.Length];
        BinaryPrimitives.WriteInt32LittleEndian(payload, inline);
        nameBytes.CopyTo(payload, 4);
        return payload;
    }

    /// <summary>A GET_OBJECT's name and inline length (clamped to <see cref="MaxInlineChunk"/>).</summary>
    public static (string Name, int Inline) ReadRequest(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        int inline = reader.Int32();
        if (inline < 0)
        {
            throw HelloMessage.Malformed($"GET_OBJECT asks for {inline} inline bytes");
        }

        return (Names.Decode(reader.Rest()), Math.Min(inline, MaxInlineChunk));
    }

    /// <summary>
    /// The head of an OBJECT: the binding, flags, and the manifest's bytes when given; the chunk's
    /// bytes, when <paramref name="withChunk"/>, follow as the message's body.
    /// </summary>
    public static byte[] EncodeHead(BindingMessage binding, byte[]? manifest, bool withChunk, ushort version = ProtocolLimits.MaxVersion)
    {
        if (withChunk && manifest is null)
        {
            throw new ArgumentException("An OBJECT carries its chunk only with its manifest.", nameof(withChunk));
        }

        var encoded = binding.Encode(version);
        var head = new byte[2 + encoded.Length + 1 + (manifest is null ? 0 : 4 + manifest.Length)];
        BinaryPrimitives.WriteUInt16LittleEndian(head, (ushort)encoded.Length);
        encoded.CopyTo(head, 2);
        int at = 2 + encoded.Length;
        head[at++] = (byte)((manifest is null ? 0 : HasManifest) | (withChunk ? HasChunk : 0));
        if (manifest is not null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(at), manifest.Length);
            manifest.CopyTo(head, at + 4);
        }

        return head;
    }

    /// <summary>
    /// Reads an OBJECT: the binding; the manifest, checked against the binding's manifest id, or
    /// null; and the range of the payload that holds the chunk's bytes (empty when none came),
    /// checked against the manifest's only chunk. A binding that is not bound is refused as
    /// malformed: a node answers NotFound with ERROR.
    /// </summary>
    public static (BindingMessage Binding, Manifest? Manifest, Range Chunk) ReadAnswer(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        int bindingLength = reader.UInt16();
        if (bindingLength > MaxBinding)
        {
            throw HelloMessage.Malformed($"an OBJECT's binding of {bindingLength} bytes");
        }

        var binding = BindingMessage.Decode(reader.Bytes(bindingLength));
        if (!binding.IsBound)
        {
            throw HelloMessage.Malformed("an OBJECT for a name that is not bound");
        }

        byte flags = reader.Byte();
        if ((flags & ~(HasManifest | HasChunk)) != 0 || flags == HasChunk)
        {
            throw HelloMessage.Malformed($"bad OBJECT flags {flags}");
        }

        if ((flags & HasManifest) == 0)
        {
            reader.End();
            return (binding, null, default);
        }

        int manifestLength = reader.Int32();
        if (manifestLength is < 0 or > MaxInlineManifest)
        {
            throw HelloMessage.Malformed($"an OBJECT's manifest of {manifestLength} bytes");
        }

        var manifest = Manifest.Parse(reader.Bytes(manifestLength), binding.ManifestId);
        int chunkAt = payload.Length - reader.Remaining;
        if ((flags & HasChunk) == 0)
        {
            reader.End();
            return (binding, manifest, default);
        }

        var chunk = reader.Rest();
        if (manifest.Layout.ChunkCount != 1 || chunk.Length != manifest.Length || !manifest.Chunks[0].Matches(chunk))
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"The bytes an OBJECT carries for '{binding.Name}' are not its manifest's chunk {(manifest.Layout.ChunkCount > 0 ? manifest.Chunks[0] : default)}.");
        }

        return (binding, manifest, new Range(chunkAt, payload.Length));
    }
}
