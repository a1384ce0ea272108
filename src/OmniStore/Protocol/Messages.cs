using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using OmniStore.Content;
using OmniStore.Internal;

namespace OmniStore.Protocol;

/// <summary>Node roles announced in the handshake.</summary>
internal enum NodeRole : byte
{
    Client = 1,
    Relay = 2,
    Root = 3,
}

/// <summary>
/// A HELLO payload (docs/protocol.md, "HELLO"). The opener's ends with the site, in the layout of
/// every version, so any node can read the range it offers; the acceptor's goes on with its public
/// key and its signature.
/// </summary>
internal sealed record HelloMessage(ushort MinVersion, ushort MaxVersion, NodeId NodeId, NodeRole Role, string Site, byte[] Nonce, bool SecretRequired, byte[] Proof)
{
    public const int NonceSize = 32;

    /// <summary>The fields before the proof: versions, id, role, flags, nonce, proof length.</summary>
    private const int FixedSize = 2 + 2 + NodeId.Size + 1 + 1 + NonceSize + 1;

    /// <summary>Bit 0 of the flags: the sender holds a shared secret; bits 1-2: <see cref="OpenerSide"/>.</summary>
    private const int SecretFlag = 1;
    private const int SideShift = 1;
    private const int SideMask = 0b11;

    /// <summary>The longest opener's HELLO: no proof, the longest site.</summary>
    public const int MaxOpenerSize = FixedSize + 2 + SiteName.MaxLength;

    /// <summary>The longest acceptor's HELLO: a proof, the longest site, a key and a signature.</summary>
    public const int MaxAcceptorSize = FixedSize + Handshake.ProofSize + 2 + SiteName.MaxLength + 1 + NodeIdentity.PublicKeySize + 1 + NodeIdentity.SignatureSize;

    /// <summary>The bytes at the end of an acceptor's HELLO that its signature does not cover: the signature and its length.</summary>
    public const int SignatureTrailerSize = 1 + NodeIdentity.SignatureSize;

    /// <summary>The sender's public key: the acceptor's (in its HELLO); the opener's once its AUTH arrived; empty in an opener's HELLO.</summary>
    public byte[] PublicKey { get; init; } = [];

    /// <summary>The acceptor's signature (docs/protocol.md, "Proofs"); empty in an opener's HELLO.</summary>
    public byte[] Signature { get; init; } = [];

    /// <summary>
    /// What the opener is to the acceptor in the tree (bits 1-2 of the flags): its child, or its
    /// parent. The opener's HELLO asks for it; the acceptor's repeats it (docs/protocol.md, "Roles").
    /// </summary>
    public TreeSide OpenerSide { get; init; } = TreeSide.Child;

    /// <summary>The opener's HELLO, or the acceptor's with its key and signature.</summary>
    public byte[] Encode(bool fromAcceptor = false)
    {
        var site = Encoding.UTF8.GetBytes(Site);
        int identity = fromAcceptor ? 1 + PublicKey.Length + 1 + Signature.Length : 0;
        var bytes = new byte[FixedSize + Proof.Length + 2 + site.Length + identity];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt16LittleEndian(span, MinVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], MaxVersion);
        NodeId.Write(span[4..]);
        span[20] = (byte)Role;
        span[21] = (byte)((SecretRequired ? SecretFlag : 0) | ((byte)OpenerSide << SideShift));
        Nonce.CopyTo(span[22..]);
        span[22 + NonceSize] = (byte)Proof.Length;
        Proof.CopyTo(span[FixedSize..]);
        int at = FixedSize + Proof.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(span[at..], (ushort)site.Length);
        site.CopyTo(span[(at + 2)..]);
        at += 2 + site.Length;
        if (fromAcceptor)
        {
            span[at++] = (byte)PublicKey.Length;
            PublicKey.CopyTo(span[at..]);
            at += PublicKey.Length;
            span[at++] = (byte)Signature.Length;
            Signature.CopyTo(span[at..]);
        }

        return bytes;
    }

    /// <summary>
    /// The version range at the start of every HELLO, read before anything else: the rest is laid
    /// out as the version says, so a HELLO of another version is refused by its range, not as malformed.
    /// </summary>
    public static (ushort Min, ushort Max) ReadVersions(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        return (reader.UInt16(), reader.UInt16());
    }

    /// <summary>Decodes an opener's HELLO, or (<paramref name="fromAcceptor"/>) an acceptor's.</summary>
    public static HelloMessage Decode(ReadOnlySpan<byte> payload, bool fromAcceptor = false)
    {
        var reader = new PayloadReader(payload);
        ushort min = reader.UInt16();
        ushort max = reader.UInt16();
        var id = NodeId.Read(reader.Bytes(NodeId.Size));
        var role = (NodeRole)reader.Byte();
        if (!Enum.IsDefined(role))
        {
            throw Malformed($"unknown role {(byte)role}");
        }

        int flags = reader.Byte();
        if ((flags & ~(SecretFlag | (SideMask << SideShift))) != 0)
        {
            throw Malformed($"bad flag {flags}");
        }

        bool required = (flags & SecretFlag) != 0;

        // Version 1 had no side: its openers were always the child, and its flags 0 or 1 read so.
        var side = (TreeSide)((flags >> SideShift) & SideMask);
        if (!Enum.IsDefined(side))
        {
            throw Malformed($"unknown tree side {(byte)side} (0 child, 1 parent)");
        }

        var nonce = reader.Bytes(NonceSize).ToArray();
        int proofLength = reader.Byte();
        if (proofLength != 0 && !(fromAcceptor && proofLength == Handshake.ProofSize))
        {
            throw Malformed($"a proof of {proofLength} bytes in {(fromAcceptor ? "the acceptor's" : "the opener's")} HELLO");
        }

        var proof = reader.Bytes(proofLength).ToArray();
        int siteLength = reader.UInt16();

        // Checked here, once: the site goes into logs, status and metrics labels as it is.
        var site = SiteName.Decode(reader.Bytes(siteLength));
        byte[] publicKey = [];
        byte[] signature = [];
        if (fromAcceptor)
        {
            publicKey = reader.Exactly(NodeIdentity.PublicKeySize, "public key").ToArray();
            signature = reader.Exactly(NodeIdentity.SignatureSize, "signature").ToArray();
        }

        reader.End();
        return new HelloMessage(min, max, id, role, site, nonce, required, proof) { PublicKey = publicKey, Signature = signature, OpenerSide = side };
    }

    internal static OmniStoreException Malformed(string what) => new(OmniStoreError.ProtocolError, $"Malformed message: {what}.");
}

/// <summary>
/// An AUTH payload (docs/protocol.md, "AUTH"): the opener's shared-secret proof, a relay's
/// relay-secret proof, the opener's public key and its signature, each with its length.
/// </summary>
internal sealed record AuthMessage(byte[] Proof, byte[] RelayProof, byte[] PublicKey, byte[] Signature)
{
    /// <summary>The longest AUTH: both proofs, a key and a signature.</summary>
    public const int MaxSize = 1 + Handshake.ProofSize + 1 + Handshake.ProofSize + 1 + NodeIdentity.PublicKeySize + 1 + NodeIdentity.SignatureSize;

    /// <summary>The bytes at the end that the opener's signature does not cover: the signature and its length.</summary>
    public const int SignatureTrailerSize = HelloMessage.SignatureTrailerSize;

    public byte[] Encode()
    {
        var bytes = new byte[4 + Proof.Length + RelayProof.Length + PublicKey.Length + Signature.Length];
        int at = 0;
        foreach (var field in (ReadOnlySpan<byte[]>)[Proof, RelayProof, PublicKey, Signature])
        {
            bytes[at++] = (byte)field.Length;
            field.CopyTo(bytes, at);
            at += field.Length;
        }

        return bytes;
    }

    public static AuthMessage Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var proof = ReadProof(ref reader, "shared-secret proof");
        var relayProof = ReadProof(ref reader, "relay proof");
        var publicKey = reader.Exactly(NodeIdentity.PublicKeySize, "public key").ToArray();
        var signature = reader.Exactly(NodeIdentity.SignatureSize, "signature").ToArray();
        reader.End();
        return new AuthMessage(proof, relayProof, publicKey, signature);
    }

    private static byte[] ReadProof(ref PayloadReader reader, string what)
    {
        int length = reader.Byte();
        if (length is not (0 or Handshake.ProofSize))
        {
            throw HelloMessage.Malformed($"a {what} of {length} bytes in AUTH");
        }

        return reader.Bytes(length).ToArray();
    }
}

/// <summary>
/// A name's binding as it travels (BINDING, UPDATE): version, manifest id, a flags byte (bit 0 bound;
/// bit 1, version 8: an <c>i64</c> expiry follows, milliseconds since the Unix epoch by the root's
/// clock), then the name. <c>ExpiresUnixMs</c> is 0 for a binding that never expires.
/// </summary>
internal readonly record struct BindingMessage(string Name, long Version, ManifestId ManifestId, bool IsBound, long ExpiresUnixMs = 0)
{
    private const byte BoundFlag = 1;
    private const byte ExpiryFlag = 2;

    /// <summary>The longest encoding (a name of at most <see cref="ObjectName.MaxByteLength"/> bytes, an expiry).</summary>
    public const int MaxLength = 8 + ManifestId.Size + 1 + 8 + ObjectName.MaxByteLength;

    /// <summary>The binding for a peer of <paramref name="version"/>: the expiry only from version 8 (an older one would refuse the flag).</summary>
    public byte[] Encode(ushort version = ProtocolLimits.MaxVersion)
    {
        bool expiry = ExpiresUnixMs != 0 && IsBound && version >= ProtocolLimits.ConditionalPutVersion;
        int head = 8 + ManifestId.Size + 1 + (expiry ? 8 : 0);
        var bytes = new byte[head + Encoding.UTF8.GetByteCount(Name)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, Version);
        ManifestId.Write(bytes.AsSpan(8));
        bytes[8 + ManifestId.Size] = (byte)((IsBound ? BoundFlag : 0) | (expiry ? ExpiryFlag : 0));
        if (expiry)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(9 + ManifestId.Size), ExpiresUnixMs);
        }

        Encoding.UTF8.GetBytes(Name, bytes.AsSpan(head));
        return bytes;
    }

    public static BindingMessage Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        long version = reader.Int64();
        var id = ManifestId.Read(reader.Bytes(ManifestId.Size));
        byte flags = reader.Byte();
        if (flags is not (0 or BoundFlag or (BoundFlag | ExpiryFlag)))
        {
            throw HelloMessage.Malformed($"bad binding flags {flags}");
        }

        long expires = (flags & ExpiryFlag) != 0 ? reader.Int64() : 0;
        if ((flags & ExpiryFlag) != 0 && expires <= 0)
        {
            throw HelloMessage.Malformed($"a binding that expires at {expires}");
        }

        var name = Names.Decode(reader.Rest());
        if (version < 0)
        {
            throw HelloMessage.Malformed("negative version");
        }

        return new BindingMessage(name, version, id, (flags & BoundFlag) != 0, expires);
    }

    /// <summary>The expiry as the public API shows it.</summary>
    public DateTimeOffset? Expires => ExpiresUnixMs != 0 ? DateTimeOffset.FromUnixTimeMilliseconds(ExpiresUnixMs) : null;
}

/// <summary>
/// BIND: bind a name to a manifest the receiver already holds. Manifest id, flags (bit 0 broadcast;
/// bits 1-4 the conditions of version 8, <see cref="PutConditions"/>), their fields, the name.
/// </summary>
internal readonly record struct BindMessage(string Name, ManifestId ManifestId, bool Broadcast, PutConditions Conditions = default)
{
    public byte[] Encode()
    {
        var bytes = new byte[ManifestId.Size + 1 + Conditions.FieldsLength + Encoding.UTF8.GetByteCount(Name)];
        ManifestId.Write(bytes);
        bytes[ManifestId.Size] = (byte)((Broadcast ? 1 : 0) | Conditions.Flags);
        int at = ManifestId.Size + 1 + Conditions.WriteFields(bytes.AsSpan(ManifestId.Size + 1));
        Encoding.UTF8.GetBytes(Name, bytes.AsSpan(at));
        return bytes;
    }

    public static BindMessage Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var id = ManifestId.Read(reader.Bytes(ManifestId.Size));
        byte flags = reader.Byte();
        var conditions = PutConditions.Read(flags, "BIND", ref reader);
        return new BindMessage(Names.Decode(reader.Rest()), id, (flags & 1) != 0, conditions);
    }
}

/// <summary>ERROR: an <see cref="OmniStoreError"/> code and a message.</summary>
internal static class ErrorMessage
{
    /// <summary>The longest message sent or kept, in UTF-16 characters.</summary>
    public const int MaxLength = 2000;

    public static byte[] Encode(OmniStoreError error, string message)
    {
        // Messages are for people; a long one is cut rather than risk a large frame.
        if (message.Length > MaxLength)
        {
            message = message[..MaxLength];
        }

        var bytes = new byte[2 + Encoding.UTF8.GetByteCount(message)];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)error);
        Encoding.UTF8.GetBytes(message, bytes.AsSpan(2));
        return bytes;
    }

    /// <summary>The most message bytes decoded: what <see cref="Encode"/> sends at most (2000 UTF-16 characters, up to 3 bytes each).</summary>
    internal const int MaxMessageBytes = 2000 * 3;

    public static OmniStoreException Decode(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 2)
        {
            return new OmniStoreException(OmniStoreError.ProtocolError, "The peer sent an ERROR without a code.");
        }

        var code = (OmniStoreError)BinaryPrimitives.ReadUInt16LittleEndian(payload);
        if (!Enum.IsDefined(code))
        {
            code = OmniStoreError.Unknown;
        }

        // The peer's words become an exception message that is logged, shown by the CLI and passed
        // on to this node's own children: escaped (no line breaks or terminal controls) and cut
        // here, once, at the edge. Only the start of a long payload is decoded at all, and invalid
        // UTF-8 is replaced without Encoding.GetString's fallback, which allocates an array per
        // invalid byte (a peer's 16 MiB of it used to cost over 30 bytes of garbage per byte).
        var text = payload[2..];
        text = text[..Math.Min(text.Length, 4 * (MaxLength + 1))];
        var chars = ArrayPool<char>.Shared.Rent(Math.Max(1, text.Length));
        try
        {
            Utf8.ToUtf16(text, chars, out _, out int written, replaceInvalidSequences: true);
            return new OmniStoreException(code, UntrustedText.Escape(new string(chars, 0, written), MaxLength));
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}

/// <summary>Names on the wire: validated on the way in like any other input.</summary>
internal static class Names
{
    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    public static string Decode(ReadOnlySpan<byte> utf8)
    {
        string name;
        try
        {
            name = Strict.GetString(utf8);
        }
        catch (DecoderFallbackException)
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, "Invalid object name: not valid UTF-8.");
        }

        ObjectName.Validate(name);
        return name;
    }

    public static byte[] Encode(string name) => Encoding.UTF8.GetBytes(name);
}

/// <summary>Reads fields from a message payload; any overrun is a protocol error, never an index exception.</summary>
internal ref struct PayloadReader(ReadOnlySpan<byte> payload)
{
    private ReadOnlySpan<byte> _rest = payload;

    /// <summary>The bytes not read yet.</summary>
    public readonly int Remaining => _rest.Length;

    public byte Byte() => Bytes(1)[0];

    public ushort UInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2));

    public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));

    public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8));

    public ReadOnlySpan<byte> Bytes(int count)
    {
        if ((uint)count > (uint)_rest.Length) // a negative count too
        {
            throw HelloMessage.Malformed($"needs {count} more bytes, has {_rest.Length}");
        }

        var taken = _rest[..count];
        _rest = _rest[count..];
        return taken;
    }

    /// <summary>A field with a one-byte length that must be <paramref name="length"/>: any other is malformed.</summary>
    public ReadOnlySpan<byte> Exactly(int length, string what)
    {
        int announced = Byte();
        if (announced != length)
        {
            throw HelloMessage.Malformed($"a {what} of {announced} bytes, not {length}");
        }

        return Bytes(length);
    }

    public ReadOnlySpan<byte> Rest()
    {
        var rest = _rest;
        _rest = default;
        return rest;
    }

    public readonly void End()
    {
        if (!_rest.IsEmpty)
        {
            throw HelloMessage.Malformed($"{_rest.Length} unexpected trailing bytes");
        }
    }
}

/// <summary>
/// The head of CHUNK, PUT_CHUNK and PUSH_CHUNK: the chunk id and its length, then the bytes. The
/// length comes first so a receiver can size its buffer from the first frame.
/// </summary>
internal static class ChunkMessage
{
    public const int HeaderSize = ChunkId.Size + 4;

    public static byte[] Head(ChunkId id, int length)
    {
        var head = new byte[HeaderSize];
        id.Write(head);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(ChunkId.Size), length);
        return head;
    }

    /// <summary>Splits a received chunk message and checks the bytes against the id.</summary>
    public static (ChunkId Id, ReadOnlyMemory<byte> Data) Read(Message message)
    {
        var payload = message.Payload;
        if (payload.Length < HeaderSize)
        {
            throw HelloMessage.Malformed("chunk message shorter than its header");
        }

        var id = ChunkId.Read(payload);
        int length = BinaryPrimitives.ReadInt32LittleEndian(payload[ChunkId.Size..]);
        if (length != payload.Length - HeaderSize)
        {
            throw HelloMessage.Malformed($"chunk message announces {length} bytes and carries {payload.Length - HeaderSize}");
        }

        var data = message.PayloadMemory[HeaderSize..];
        if (!id.Matches(data.Span))
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Chunk {id} arrived with bytes that do not match its id.");
        }

        return (id, data);
    }
}
