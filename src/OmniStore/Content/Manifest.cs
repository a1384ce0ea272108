using System.Buffers.Binary;

namespace OmniStore.Content;

/// <summary>
/// The immutable description of one object's content: its length, its chunk size and the ids of
/// its chunks in order. Its binary form is versioned (see docs/formats.md) and its id is the
/// XXH3-128 of that form.
/// </summary>
internal sealed class Manifest
{
    /// <summary>The binary format version this code writes.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Size of the fixed header of the binary form.</summary>
    public const int HeaderSize = 24;

    private static ReadOnlySpan<byte> Magic => "OMNM"u8;

    private readonly ChunkId[] _chunks;
    private ManifestId? _id;

    // The flags and reserved bytes of a parsed manifest, kept as read: none are defined, and
    // readers reject nothing on them, so the binary form (and with it the id) must survive a
    // parse and re-encode unchanged, or the manifest would be stored under an id its bytes do
    // not hash to.
    private readonly byte _flags;
    private readonly ushort _reserved;

    /// <summary>Creates a manifest from a layout and the ids of its chunks.</summary>
    /// <exception cref="ArgumentException">The number of ids does not match the layout.</exception>
    public Manifest(ChunkLayout layout, IEnumerable<ChunkId> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        _chunks = chunks.ToArray();
        if (_chunks.Length != layout.ChunkCount)
        {
            throw new ArgumentException($"The layout has {layout.ChunkCount} chunks but {_chunks.Length} ids were given.", nameof(chunks));
        }

        Layout = layout;
    }

    private Manifest(ChunkLayout layout, ChunkId[] chunks, ManifestId id, byte flags, ushort reserved)
    {
        Layout = layout;
        _chunks = chunks;
        _id = id;
        _flags = flags;
        _reserved = reserved;
    }

    /// <summary>How the object splits into chunks.</summary>
    public ChunkLayout Layout { get; }

    /// <summary>The object's length in bytes.</summary>
    public long Length => Layout.Length;

    /// <summary>The ids of the object's chunks, in order.</summary>
    public IReadOnlyList<ChunkId> Chunks => _chunks;

    /// <summary>The manifest's content id: the XXH3-128 of <see cref="ToBytes"/>.</summary>
    public ManifestId Id => _id ??= ManifestId.Compute(ToBytes());

    /// <summary>Size of the binary form in bytes.</summary>
    public int EncodedLength => HeaderSize + (_chunks.Length * ChunkId.Size);

    /// <summary>The binary form (for a parsed manifest, exactly the bytes it was parsed from).</summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[EncodedLength];
        Write(bytes);
        return bytes;
    }

    /// <summary>Writes the binary form into <paramref name="destination"/>, which must hold <see cref="EncodedLength"/> bytes.</summary>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < EncodedLength)
        {
            throw new ArgumentException($"The destination needs {EncodedLength} bytes.", nameof(destination));
        }

        Magic.CopyTo(destination);
        destination[4] = FormatVersion;
        destination[5] = _flags;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], _reserved);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], Layout.Length);
        BinaryPrimitives.WriteInt32LittleEndian(destination[16..], Layout.ChunkSize);
        BinaryPrimitives.WriteInt32LittleEndian(destination[20..], _chunks.Length);
        var ids = destination[HeaderSize..];
        for (int i = 0; i < _chunks.Length; i++)
        {
            _chunks[i].Write(ids.Slice(i * ChunkId.Size, ChunkId.Size));
        }
    }

    /// <summary>
    /// Reads the length of a whole binary form from its header, so that a reader can fetch the
    /// rest. Returns false if <paramref name="header"/> is not a valid manifest header.
    /// </summary>
    public static bool TryReadEncodedLength(ReadOnlySpan<byte> header, out int encodedLength)
    {
        encodedLength = 0;
        if (!TryReadHeader(header, out var layout, out _))
        {
            return false;
        }

        encodedLength = HeaderSize + (layout.ChunkCount * ChunkId.Size);
        return true;
    }

    /// <summary>
    /// Parses a binary form and checks it against <paramref name="expected"/>. Throws
    /// <see cref="OmniStoreException"/> with <see cref="OmniStoreError.Corrupt"/> for anything malformed.
    /// </summary>
    public static Manifest Parse(ReadOnlySpan<byte> encoded, ManifestId expected)
    {
        var manifest = Parse(encoded);
        if (manifest.Id != expected)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Manifest {expected} does not match its content (hashes to {manifest.Id}).");
        }

        return manifest;
    }

    /// <summary>Parses a binary form. Throws <see cref="OmniStoreException"/> with <see cref="OmniStoreError.Corrupt"/> for anything malformed.</summary>
    public static Manifest Parse(ReadOnlySpan<byte> encoded)
    {
        if (!TryReadHeader(encoded, out var layout, out string? problem))
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Malformed manifest: {problem}.");
        }

        int expectedLength = HeaderSize + (layout.ChunkCount * ChunkId.Size);
        if (encoded.Length != expectedLength)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"Malformed manifest: {encoded.Length} bytes where {expectedLength} were expected.");
        }

        var chunks = new ChunkId[layout.ChunkCount];
        var ids = encoded[HeaderSize..];
        for (int i = 0; i < chunks.Length; i++)
        {
            chunks[i] = ChunkId.Read(ids.Slice(i * ChunkId.Size, ChunkId.Size));
        }

        return new Manifest(layout, chunks, ManifestId.Compute(encoded), encoded[5], BinaryPrimitives.ReadUInt16LittleEndian(encoded[6..]));
    }

    private static bool TryReadHeader(ReadOnlySpan<byte> encoded, out ChunkLayout layout, out string? problem)
    {
        layout = default;
        problem = null;
        if (encoded.Length < HeaderSize)
        {
            problem = "shorter than its header";
            return false;
        }

        if (!encoded[..4].SequenceEqual(Magic))
        {
            problem = "bad magic";
            return false;
        }

        if (encoded[4] != FormatVersion)
        {
            problem = $"format version {encoded[4]} is not supported (this build reads {FormatVersion})";
            return false;
        }

        long length = BinaryPrimitives.ReadInt64LittleEndian(encoded[8..]);
        int chunkSize = BinaryPrimitives.ReadInt32LittleEndian(encoded[16..]);
        int count = BinaryPrimitives.ReadInt32LittleEndian(encoded[20..]);
        if (chunkSize is < ChunkLayout.MinChunkSize or > ChunkLayout.MaxChunkSize || length < 0 || length > ChunkLayout.MaxLength(chunkSize))
        {
            problem = $"length {length} with chunk size {chunkSize} is out of range";
            return false;
        }

        layout = new ChunkLayout(length, chunkSize);
        if (layout.ChunkCount != count)
        {
            problem = $"chunk count {count} does not match length {length} and chunk size {chunkSize}";
            return false;
        }

        return true;
    }
}
