using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using OmniStore.Content;
using OmniStore.Internal;

namespace OmniStore.Protocol;

/// <summary>A LIST request (protocol version 7; docs/watch.md, "Frames"): a page of the names under a prefix.</summary>
/// <param name="Prefix">The names wanted start with it; empty for every name.</param>
/// <param name="After">The cursor of the previous page: only names after it; empty for the first page.</param>
/// <param name="Max">The most entries wanted, 1..<see cref="ListMessages.MaxPage"/>.</param>
/// <param name="Cached">List what the node itself holds (a relay's cache) rather than ask the root.</param>
internal readonly record struct ListRequest(string Prefix, string After, int Max, bool Cached);

/// <summary>A LISTING: entries in name order, the cursor to go on after, and whether more may follow.</summary>
internal sealed record Listing(IReadOnlyList<ObjectInfo> Entries, string Cursor, bool More);

/// <summary>
/// LIST, LISTING and WAIT (docs/watch.md). Every field of a LISTING is the peer's word: counts are
/// checked against the bytes received before anything is allocated, and every name against the
/// prefix, the cursor and the one before it, so a listing cannot repeat or go backwards.
/// </summary>
internal static partial class ListMessages
{
    /// <summary>The most entries in one LISTING.</summary>
    public const int MaxPage = 1000;

    /// <summary>The longest LISTING: a node ends a page before an entry would pass it.</summary>
    public const int MaxListingSize = 64 * 1024;

    /// <summary>An entry's bytes besides its name: length, version, manifest id, length, chunk size, chunk count.</summary>
    private const int EntryFixedSize = 2 + 8 + ManifestId.Size + 8 + 4 + 4;

    /// <summary>The shortest entry (a one-byte name): what a count is checked against.</summary>
    private const int MinEntrySize = EntryFixedSize + 1;

    private const byte CachedFlag = 1;
    private const byte MoreFlag = 1;

    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    public static byte[] EncodeRequest(ListRequest request)
    {
        var prefix = Encoding.UTF8.GetBytes(request.Prefix);
        var after = Encoding.UTF8.GetBytes(request.After);
        var bytes = new byte[1 + 2 + 2 + prefix.Length + 2 + after.Length];
        bytes[0] = request.Cached ? CachedFlag : (byte)0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(1), (ushort)request.Max);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(3), (ushort)prefix.Length);
        prefix.CopyTo(bytes, 5);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(5 + prefix.Length), (ushort)after.Length);
        after.CopyTo(bytes, 7 + prefix.Length);
        return bytes;
    }

    public static ListRequest DecodeRequest(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        byte flags = reader.Byte();
        if ((flags & ~CachedFlag) != 0)
        {
            throw HelloMessage.Malformed($"unknown LIST flags {flags}");
        }

        int max = reader.UInt16();
        if (max == 0)
        {
            throw HelloMessage.Malformed("a LIST that asks for no entries");
        }

        string prefix = DecodePrefix(ref reader, "prefix");
        string after = DecodePrefix(ref reader, "cursor");
        reader.End();
        return new ListRequest(prefix, after, Math.Min(max, MaxPage), (flags & CachedFlag) != 0);
    }

    /// <summary>A prefix or cursor: up to <see cref="ObjectName.MaxByteLength"/> bytes of valid UTF-8, no control characters, maybe empty.</summary>
    private static string DecodePrefix(ref PayloadReader reader, string what)
    {
        int length = reader.UInt16();
        if (length > ObjectName.MaxByteLength)
        {
            throw HelloMessage.Malformed($"a {what} of {length} bytes (at most {ObjectName.MaxByteLength})");
        }

        var bytes = reader.Bytes(length);
        return length == 0 ? string.Empty : ValidPrefix(bytes, what);
    }

    private static string ValidPrefix(ReadOnlySpan<byte> bytes, string what)
    {
        string text;
        try
        {
            text = Strict.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw HelloMessage.Malformed($"a {what} that is not valid UTF-8");
        }

        if (!ObjectName.IsValid(text, out var problem))
        {
            throw HelloMessage.Malformed($"an invalid {what} ({problem})");
        }

        return text;
    }

    /// <summary>Checks a prefix a caller gives: empty, or what a name may start with.</summary>
    public static void ValidatePrefix(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length > 0 && !ObjectName.IsValid(prefix, out var problem))
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, $"Invalid name prefix: {problem}.");
        }
    }

    /// <summary>Writes an entry (LISTING's, CHANGE's) of <paramref name="nameLength"/> UTF-8 name bytes into <paramref name="span"/>.</summary>
    private static void WriteEntry(Span<byte> span, ObjectInfo info, int nameLength)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)nameLength);
        Encoding.UTF8.GetBytes(info.Name, span[2..]);
        var rest = span[(2 + nameLength)..];
        BinaryPrimitives.WriteInt64LittleEndian(rest, info.Version);
        info.ManifestId.Write(rest[8..]);
        BinaryPrimitives.WriteInt64LittleEndian(rest[(8 + ManifestId.Size)..], info.Length);
        BinaryPrimitives.WriteInt32LittleEndian(rest[(16 + ManifestId.Size)..], info.ChunkSize);
        BinaryPrimitives.WriteInt32LittleEndian(rest[(20 + ManifestId.Size)..], info.ChunkCount);
    }

    /// <summary>
    /// Reads an entry of a <paramref name="message"/>: a valid name under <paramref name="prefix"/>,
    /// a version above 0, sizes not below 0 (the caller checks what its message needs more).
    /// </summary>
    private static ObjectInfo ReadEntry(ref PayloadReader reader, string message, string prefix)
    {
        int nameLength = reader.UInt16();
        if (nameLength is 0 or > ObjectName.MaxByteLength)
        {
            throw HelloMessage.Malformed($"a {message} entry with a name of {nameLength} bytes");
        }

        string name;
        try
        {
            name = Names.Decode(reader.Bytes(nameLength));
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.InvalidName)
        {
            throw HelloMessage.Malformed($"a {message} entry with an invalid name");
        }

        if (!name.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw HelloMessage.Malformed($"a {message} entry outside the prefix asked");
        }

        long version = reader.Int64();
        var manifestId = ManifestId.Read(reader.Bytes(ManifestId.Size));
        long length = reader.Int64();
        int chunkSize = reader.Int32();
        int chunkCount = reader.Int32();
        if (version <= 0 || length < 0 || chunkSize < 0 || chunkSize > ChunkLayout.MaxChunkSize || chunkCount < 0)
        {
            throw HelloMessage.Malformed($"a {message} entry with version {version}, length {length}, chunk size {chunkSize}, {chunkCount} chunks");
        }

        return new ObjectInfo(name, length, chunkSize, chunkCount, version, manifestId);
    }

    /// <summary>
    /// Builds a LISTING: entries are added while they fit in <see cref="MaxListingSize"/> and
    /// <see cref="MaxPage"/>; the cursor and flags go last.
    /// </summary>
    internal sealed class Writer
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(1024);
        private readonly int _max;

        public Writer(int max)
        {
            _max = Math.Clamp(max, 1, MaxPage);
            _buffer.Advance(3); // flags and count, written by ToArray
        }

        public int Count { get; private set; }

        /// <summary>Adds <paramref name="info"/>; false (nothing added) when the page is full.</summary>
        public bool TryAdd(ObjectInfo info)
        {
            int nameLength = Encoding.UTF8.GetByteCount(info.Name);
            int size = EntryFixedSize + nameLength;
            if (Count >= _max || _buffer.WrittenCount + size + 2 + ObjectName.MaxByteLength > MaxListingSize)
            {
                return false;
            }

            WriteEntry(_buffer.GetSpan(size), info, nameLength);
            _buffer.Advance(size);
            Count++;
            return true;
        }

        /// <summary>Whether another entry is wanted: fewer than the asked most so far.</summary>
        public bool WantsMore => Count < _max;

        public byte[] ToArray(string cursor, bool more)
        {
            var cursorBytes = more ? Encoding.UTF8.GetBytes(cursor) : [];
            var bytes = new byte[_buffer.WrittenCount + 2 + cursorBytes.Length];
            _buffer.WrittenSpan.CopyTo(bytes);
            bytes[0] = more ? MoreFlag : (byte)0;
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(1), (ushort)Count);
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(_buffer.WrittenCount), (ushort)cursorBytes.Length);
            cursorBytes.CopyTo(bytes, _buffer.WrittenCount + 2);
            return bytes;
        }
    }

    /// <summary>
    /// Reads a LISTING answering <paramref name="asked"/>: every entry a valid name under the
    /// prefix, after the cursor asked and after the entry before it; a cursor (when more follow) not
    /// before the last entry and after the one asked, so paging always moves on.
    /// </summary>
    public static Listing DecodeListing(ReadOnlySpan<byte> payload, ListRequest asked)
    {
        var reader = new PayloadReader(payload);
        byte flags = reader.Byte();
        if ((flags & ~MoreFlag) != 0)
        {
            throw HelloMessage.Malformed($"unknown LISTING flags {flags}");
        }

        int count = reader.UInt16();
        if (count > asked.Max || (long)count * MinEntrySize > reader.Remaining)
        {
            throw HelloMessage.Malformed($"a LISTING of {count} entries in {reader.Remaining} bytes, for a request of at most {asked.Max}");
        }

        var entries = new List<ObjectInfo>(count);
        string previous = asked.After;
        for (int i = 0; i < count; i++)
        {
            var entry = ReadEntry(ref reader, "LISTING", asked.Prefix);
            if (NameOrder.Instance.Compare(entry.Name, previous) <= 0)
            {
                throw HelloMessage.Malformed("a LISTING entry out of order or outside the prefix asked");
            }

            if (entry.ChunkSize <= 0)
            {
                throw HelloMessage.Malformed($"a LISTING entry with chunk size {entry.ChunkSize}");
            }

            entries.Add(entry);
            previous = entry.Name;
        }

        string cursor = DecodePrefix(ref reader, "cursor");
        reader.End();
        bool more = (flags & MoreFlag) != 0;
        if (more ? cursor.Length == 0 || NameOrder.Instance.Compare(cursor, previous) < 0 || NameOrder.Instance.Compare(cursor, asked.After) <= 0 : cursor.Length != 0)
        {
            throw HelloMessage.Malformed("a LISTING whose cursor does not move past what it listed");
        }

        return new Listing(entries, cursor, more);
    }
}
