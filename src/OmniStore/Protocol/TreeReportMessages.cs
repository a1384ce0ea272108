using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using OmniStore.Internal;

namespace OmniStore.Protocol;

/// <summary>
/// TREE_REPORT and the names its OK asks about (docs/tree.md, "TREE_REPORT"). Every field is the
/// sender's word: counts are checked against the bytes left before anything is allocated, strings
/// against their rules, the entries against the bounds and against each other.
/// </summary>
internal static class TreeReportMessages
{
    /// <summary>The longest report: a sender stops adding entries before it would pass it.</summary>
    public const int MaxReportSize = 64 * 1024;

    /// <summary>The most entries in one report (the sender and the relays of its subtree).</summary>
    public const int MaxEntries = 256;

    /// <summary>The deepest entry, counting the sender as depth 0.</summary>
    public const int MaxDepth = 16;

    /// <summary>The most names a parent asks about at once (a bit each in <see cref="TreeReportEntry.Holds"/>).</summary>
    public const int MaxNames = 4;

    /// <summary>The most transfers an entry lists.</summary>
    public const int MaxTransfers = 8;

    /// <summary>The most errors an entry lists.</summary>
    public const int MaxErrors = 4;

    /// <summary>The longest error text, in UTF-8 bytes.</summary>
    public const int MaxErrorBytes = 256;

    /// <summary>The longest path description ("rudp punched").</summary>
    public const int MaxPathLength = 32;

    private const ushort NoParent = 0xFFFF;
    private const uint RttUnknown = 0xFFFFFFFF;
    private const byte LinkUpFlag = 1;

    /// <summary>An entry's bytes besides its strings and lists: parent, id, site length, age, flags, 2 counters, rtt, path length, 4 cache numbers, 3 counts, holds, 2 list counts.</summary>
    private const int EntryFixedSize = 2 + NodeId.Size + 1 + 4 + 1 + 16 + 4 + 1 + 32 + 12 + 1 + 2;

    /// <summary>A transfer's bytes besides its strings: name length, peer length, done, total.</summary>
    private const int TransferFixedSize = 2 + 1 + 16;

    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    /// <summary>
    /// Builds a report within the bounds: entries are added while they fit in
    /// <see cref="MaxReportSize"/>, <see cref="MaxEntries"/> and <see cref="MaxDepth"/>.
    /// </summary>
    internal sealed class Writer
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(1024);
        private readonly List<int> _depths = [];
        private readonly int _countAt;

        public Writer(IReadOnlyList<string> names)
        {
            ArgumentNullException.ThrowIfNull(names);
            if (names.Count > MaxNames)
            {
                throw new ArgumentException($"At most {MaxNames} names.", nameof(names));
            }

            WriteNames(_buffer, [.. names]);
            _countAt = _buffer.WrittenCount;
            U16(_buffer, 0); // the count, written by ToArray
        }

        public int Count => _depths.Count;

        /// <summary>Adds <paramref name="entry"/> (its parent already added); false, with nothing added, when it does not fit.</summary>
        public bool TryAdd(TreeReportEntry entry)
        {
            ArgumentNullException.ThrowIfNull(entry);
            int depth = entry.Parent < 0 ? 0 : _depths[entry.Parent] + 1;
            if (Count >= MaxEntries || depth > MaxDepth || (Count == 0) != (entry.Parent < 0))
            {
                return false;
            }

            var bytes = EncodeEntry(entry);
            if (_buffer.WrittenCount + bytes.Length + 4 > MaxReportSize)
            {
                return false;
            }

            _buffer.Write(bytes);
            _depths.Add(depth);
            return true;
        }

        public byte[] ToArray(long omitted)
        {
            var bytes = new byte[_buffer.WrittenCount + 4];
            _buffer.WrittenSpan.CopyTo(bytes);
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(_countAt), (ushort)Count);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(_buffer.WrittenCount), (uint)Math.Clamp(omitted, 0, uint.MaxValue));
            return bytes;
        }
    }

    /// <summary>A whole report, for tests and tools; a node builds one with a <see cref="Writer"/>.</summary>
    public static byte[] Encode(TreeReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var writer = new Writer(report.Names);
        foreach (var entry in report.Entries)
        {
            if (!writer.TryAdd(entry))
            {
                throw new ArgumentException("The report does not fit its bounds.", nameof(report));
            }
        }

        return writer.ToArray(report.Omitted);
    }

    private static byte[] EncodeEntry(TreeReportEntry entry)
    {
        var output = new ArrayBufferWriter<byte>(256);
        Span<byte> fixedPart = stackalloc byte[NodeId.Size + 2];
        BinaryPrimitives.WriteUInt16LittleEndian(fixedPart, entry.Parent < 0 ? NoParent : (ushort)entry.Parent);
        entry.NodeId.Write(fixedPart[2..]);
        output.Write(fixedPart);
        Short(output, Ascii(entry.Site, SiteName.MaxLength));
        U32(output, (uint)Math.Clamp(entry.AgeMs, 0, uint.MaxValue));
        output.Write([entry.LinkUp ? LinkUpFlag : (byte)0]);
        I64(output, entry.BytesIn);
        I64(output, entry.BytesOut);
        U32(output, entry.RttMicroseconds is { } rtt ? (uint)Math.Clamp(rtt, 0, RttUnknown - 1) : RttUnknown);
        Short(output, Ascii(entry.Path, MaxPathLength));
        I64(output, entry.CacheUsed);
        I64(output, entry.CacheSize);
        I64(output, entry.Hits);
        I64(output, entry.Misses);
        U32(output, (uint)Math.Clamp(entry.Clients, 0, uint.MaxValue));
        U32(output, (uint)Math.Clamp(entry.Relays, 0, uint.MaxValue));
        U32(output, (uint)Math.Clamp(entry.InFlight, 0, uint.MaxValue));
        output.Write([entry.Holds]);
        var transfers = entry.Transfers.Take(MaxTransfers).ToList();
        output.Write([(byte)transfers.Count]);
        foreach (var transfer in transfers)
        {
            var name = Encoding.UTF8.GetBytes(transfer.Name);
            U16(output, (ushort)name.Length);
            output.Write(name);
            Short(output, Ascii(transfer.Peer, SiteName.MaxLength));
            I64(output, transfer.DoneBytes);
            I64(output, transfer.TotalBytes);
        }

        var errors = entry.Errors.Take(MaxErrors).ToList();
        output.Write([(byte)errors.Count]);
        foreach (var error in errors)
        {
            I64(output, error.AtUnixMs);
            var text = Utf8Within(UntrustedText.Escape(error.Text, MaxErrorBytes), MaxErrorBytes);
            U16(output, (ushort)text.Length);
            output.Write(text);
        }

        return output.WrittenSpan.ToArray();
    }

    /// <summary>The UTF-8 of <paramref name="text"/>, cut at a character boundary to at most <paramref name="max"/> bytes.</summary>
    internal static byte[] Utf8Within(string text, int max)
    {
        int chars = text.Length;
        while (Encoding.UTF8.GetByteCount(text.AsSpan(0, chars)) > max)
        {
            chars -= char.IsLowSurrogate(text[chars - 1]) && chars > 1 ? 2 : 1;
        }

        return Encoding.UTF8.GetBytes(text[..chars]);
    }

    private static byte[] Ascii(string text, int max) => Encoding.ASCII.GetBytes(text.Length > max ? text[..max] : text);

    private static void Short(ArrayBufferWriter<byte> output, byte[] bytes)
    {
        output.Write([(byte)bytes.Length]);
        output.Write(bytes);
    }

    private static void U16(ArrayBufferWriter<byte> output, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Take(output, 2), value);

    private static void U32(ArrayBufferWriter<byte> output, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Take(output, 4), value);

    private static void I64(ArrayBufferWriter<byte> output, long value) => BinaryPrimitives.WriteInt64LittleEndian(Take(output, 8), value);

    private static Span<byte> Take(ArrayBufferWriter<byte> output, int count)
    {
        var span = output.GetSpan(count)[..count];
        output.Advance(count);
        return span;
    }

    /// <summary>
    /// Reads a TREE_REPORT sent on a link whose peer proved <paramref name="sender"/>: entry 0 must be
    /// that node; any other id, bound or field out of its rules is <see cref="OmniStoreError.ProtocolError"/>.
    /// </summary>
    public static TreeReport Decode(ReadOnlySpan<byte> payload, NodeId sender)
    {
        if (payload.Length > MaxReportSize)
        {
            throw HelloMessage.Malformed($"a TREE_REPORT of {payload.Length} bytes (at most {MaxReportSize})");
        }

        var reader = new PayloadReader(payload);
        byte flags = reader.Byte();
        if (flags != 0)
        {
            throw HelloMessage.Malformed($"unknown TREE_REPORT flags {flags}");
        }

        var names = DecodeNames(ref reader);
        int count = reader.UInt16();
        if (count is 0 or > MaxEntries || (long)count * EntryFixedSize > reader.Remaining)
        {
            throw HelloMessage.Malformed($"a TREE_REPORT of {count} entries in {reader.Remaining} bytes (1 to {MaxEntries})");
        }

        var entries = new List<TreeReportEntry>(count);
        var depths = new int[count];
        var ids = new HashSet<NodeId>();
        for (int i = 0; i < count; i++)
        {
            int parent = reader.UInt16();
            if (i == 0 ? parent != NoParent : parent >= i)
            {
                throw HelloMessage.Malformed($"TREE_REPORT entry {i} names entry {parent} as its parent");
            }

            if (i > 0)
            {
                depths[i] = depths[parent] + 1;
                if (depths[i] > MaxDepth)
                {
                    throw HelloMessage.Malformed($"a TREE_REPORT deeper than {MaxDepth}");
                }
            }

            var id = NodeId.Read(reader.Bytes(NodeId.Size));
            if (i == 0 && id != sender)
            {
                throw new OmniStoreException(OmniStoreError.ProtocolError, $"A TREE_REPORT speaks for node {id}; this link proved node {sender}: a relay reports only itself and its subtree.");
            }

            if (!ids.Add(id))
            {
                throw HelloMessage.Malformed($"node {id} twice in a TREE_REPORT");
            }

            entries.Add(DecodeEntry(ref reader, i == 0 ? -1 : parent, id));
        }

        long omitted = (uint)reader.Int32();
        reader.End();
        return new TreeReport(names, entries, omitted);
    }

    private static List<string> DecodeNames(ref PayloadReader reader)
    {
        int count = reader.Byte();
        if (count > MaxNames)
        {
            throw HelloMessage.Malformed($"{count} names asked about (at most {MaxNames})");
        }

        var names = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            names.Add(DecodeName(ref reader, "name"));
        }

        return names;
    }

    private static TreeReportEntry DecodeEntry(ref PayloadReader reader, int parent, NodeId id)
    {
        string site = Site(ref reader);
        long age = (uint)reader.Int32();
        byte linkFlags = reader.Byte();
        if ((linkFlags & ~LinkUpFlag) != 0)
        {
            throw HelloMessage.Malformed($"unknown link flags {linkFlags}");
        }

        long bytesIn = NotNegative(reader.Int64(), "bytes in");
        long bytesOut = NotNegative(reader.Int64(), "bytes out");
        uint rtt = (uint)reader.Int32();
        int pathLength = reader.Byte();
        if (pathLength > MaxPathLength)
        {
            throw HelloMessage.Malformed($"a link path of {pathLength} bytes (at most {MaxPathLength})");
        }

        string path = Printable(reader.Bytes(pathLength), "link path");
        long used = NotNegative(reader.Int64(), "cache used");
        long size = NotNegative(reader.Int64(), "cache size");
        long hits = NotNegative(reader.Int64(), "hits");
        long misses = NotNegative(reader.Int64(), "misses");
        long clients = (uint)reader.Int32();
        long relays = (uint)reader.Int32();
        long inFlight = (uint)reader.Int32();
        byte holds = reader.Byte();
        int transferCount = reader.Byte();
        if (transferCount > MaxTransfers || (long)transferCount * TransferFixedSize > reader.Remaining)
        {
            throw HelloMessage.Malformed($"{transferCount} transfers in an entry (at most {MaxTransfers})");
        }

        var transfers = new List<TreeTransfer>(transferCount);
        for (int t = 0; t < transferCount; t++)
        {
            string name = DecodeName(ref reader, "transfer's name");
            string peer = Site(ref reader);
            long done = NotNegative(reader.Int64(), "transferred bytes");
            long total = NotNegative(reader.Int64(), "transfer length");
            if (done > total)
            {
                throw HelloMessage.Malformed($"a transfer of {done} bytes out of {total}");
            }

            transfers.Add(new TreeTransfer(name, peer, done, total));
        }

        int errorCount = reader.Byte();
        if (errorCount > MaxErrors || (long)errorCount * 10 > reader.Remaining)
        {
            throw HelloMessage.Malformed($"{errorCount} errors in an entry (at most {MaxErrors})");
        }

        var errors = new List<TreeError>(errorCount);
        for (int e = 0; e < errorCount; e++)
        {
            long at = reader.Int64();
            int length = reader.UInt16();
            if (length > MaxErrorBytes)
            {
                throw HelloMessage.Malformed($"an error text of {length} bytes (at most {MaxErrorBytes})");
            }

            string text;
            try
            {
                text = Strict.GetString(reader.Bytes(length));
            }
            catch (DecoderFallbackException)
            {
                throw HelloMessage.Malformed("an error text that is not valid UTF-8");
            }

            errors.Add(new TreeError(at, text));
        }

        return new TreeReportEntry(parent, id, site, age, (linkFlags & LinkUpFlag) != 0, bytesIn, bytesOut, rtt == RttUnknown ? null : rtt, path,
            used, size, hits, misses, clients, relays, inFlight, holds, transfers, errors);
    }

    /// <summary>An object name with its u16 length, by <see cref="ObjectName"/>'s rules.</summary>
    private static string DecodeName(ref PayloadReader reader, string what)
    {
        int length = reader.UInt16();
        if (length is 0 or > ObjectName.MaxByteLength)
        {
            throw HelloMessage.Malformed($"a {what} of {length} bytes");
        }

        string name = Names.Decode(reader.Bytes(length));
        return ObjectName.IsValid(name, out var problem) ? name : throw HelloMessage.Malformed($"an invalid {what} ({problem})");
    }

    private static string Site(ref PayloadReader reader)
    {
        int length = reader.Byte();
        if (length > SiteName.MaxLength)
        {
            throw HelloMessage.Malformed($"a site name of {length} bytes (at most {SiteName.MaxLength})");
        }

        string site = Encoding.ASCII.GetString(reader.Bytes(length));
        if (!SiteName.IsValid(site, out var problem))
        {
            throw HelloMessage.Malformed(problem ?? "an invalid site name");
        }

        return site;
    }

    private static string Printable(ReadOnlySpan<byte> bytes, string what)
    {
        foreach (byte b in bytes)
        {
            if (b is < 0x20 or > 0x7E)
            {
                throw HelloMessage.Malformed($"a {what} with a byte that is not printable ASCII");
            }
        }

        return Encoding.ASCII.GetString(bytes);
    }

    private static long NotNegative(long value, string what) =>
        value >= 0 ? value : throw HelloMessage.Malformed($"{what} {value}");

    /// <summary>The payload of the OK that answers a TREE_REPORT: the names the parent asks about (none: empty).</summary>
    public static byte[] EncodeAsk(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Count == 0)
        {
            return [];
        }

        var output = new ArrayBufferWriter<byte>(64);
        WriteNames(output, names.Take(MaxNames).ToList());
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Flags (0), the count of names, each name with its u16 length.</summary>
    private static void WriteNames(ArrayBufferWriter<byte> output, List<string> names)
    {
        output.Write<byte>([0, (byte)names.Count]);
        foreach (string name in names)
        {
            var bytes = Encoding.UTF8.GetBytes(name);
            U16(output, (ushort)bytes.Length);
            output.Write(bytes);
        }
    }

    /// <summary>Reads the names an OK answering a TREE_REPORT asks about; an empty payload asks none.</summary>
    public static IReadOnlyList<string> DecodeAsk(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            return [];
        }

        var reader = new PayloadReader(payload);
        if (reader.Byte() != 0)
        {
            throw HelloMessage.Malformed("unknown flags in the names a TREE_REPORT's OK asks about");
        }

        var names = DecodeNames(ref reader);
        reader.End();
        return names;
    }
}
