using System.Buffers.Binary;
using OmniStore.Content;

namespace OmniStore.Storage.Internal;

/// <summary>
/// What a table's last completed commit holds, written after each checkpoint and checked at the next
/// open before FASTER reads a byte, so that a damaged or missing file is refused instead of crashing
/// recovery or recovering less. Two files in the table's directory, <c>commit.record.0</c> and
/// <c>commit.record.1</c>, are written in turn (the one that does not hold the latest record), each
/// with a checksum: a write cut short by a crash leaves the other one, and a commit costs one fsync
/// of one small file (a rename would also need the directory fsynced).
/// </summary>
/// <param name="Sequence">Counts the table's commits; the record with the higher one is the latest.</param>
/// <param name="PageSizeBits">log2 of the log's page size: the log cannot be read with another.</param>
/// <param name="SegmentSizeBits">log2 of the log's segment size: addresses map to files by it.</param>
/// <param name="Log">The hybrid-log checkpoint: its token, version and addresses.</param>
/// <param name="LogMetadataHash">XXH3-64 of the checkpoint's metadata file.</param>
/// <param name="IndexToken">The index checkpoint recovery starts from.</param>
/// <param name="IndexMetadataHash">XXH3-64 of the index checkpoint's metadata file.</param>
/// <param name="HashTableHash">XXH3-64 of the index checkpoint's hash table file.</param>
/// <param name="HashTableLength">Length of the hash table file.</param>
/// <param name="Digests">Per-page digests of every record in [begin, final) (the catalog), or null when the table keeps none (chunks verify themselves).</param>
internal sealed record CommitRecord(
    long Sequence,
    int PageSizeBits,
    int SegmentSizeBits,
    LogCheckpointInfo Log,
    ulong LogMetadataHash,
    Guid IndexToken,
    ulong IndexMetadataHash,
    ulong HashTableHash,
    long HashTableLength,
    SortedDictionary<long, PageDigest>? Digests)
{
    /// <summary>The start of the two files' names (<c>commit.record.0</c>, <c>commit.record.1</c>).</summary>
    public const string FileName = "commit.record";

    /// <summary>The file a record of <paramref name="sequence"/> is written to.</summary>
    public static string SlotFileName(long sequence) => $"{FileName}.{sequence & 1}";
    private const int Format = 1;
    private static ReadOnlySpan<byte> Magic => "OSCOMMIT"u8;
    private const int MaxPages = 1 << 24;

    /// <summary>The record's bytes: magic, format, fields, digests, then an XXH3-64 of everything before it.</summary>
    public byte[] ToBytes()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(Format);
            writer.Write(Sequence);
            writer.Write(PageSizeBits);
            writer.Write(SegmentSizeBits);
            writer.Write(Log.Token.ToByteArray());
            writer.Write(Log.Version);
            writer.Write(Log.StartAddress);
            writer.Write(Log.FinalAddress);
            writer.Write(Log.HeadAddress);
            writer.Write(Log.BeginAddress);
            writer.Write(LogMetadataHash);
            writer.Write(IndexToken.ToByteArray());
            writer.Write(IndexMetadataHash);
            writer.Write(HashTableHash);
            writer.Write(HashTableLength);
            writer.Write(Digests is null ? -1 : Digests.Count);
            foreach (var (page, digest) in Digests ?? [])
            {
                writer.Write(page);
                writer.Write(digest.From);
                writer.Write(digest.Until);
                writer.Write(digest.Records);
                writer.Write(digest.Sum);
            }
        }

        var body = stream.ToArray();
        var bytes = new byte[body.Length + sizeof(ulong)];
        body.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(body.Length), XxHash3.Hash64(body));
        return bytes;
    }

    /// <summary>Parses a record; false (with the reason) if it is damaged or of another format.</summary>
    public static bool TryParse(byte[] bytes, out CommitRecord? record, out string problem)
    {
        record = null;
        problem = "";
        if (bytes.Length < Magic.Length + sizeof(ulong) || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            problem = "is not a commit record";
            return false;
        }

        int bodyLength = bytes.Length - sizeof(ulong);
        if (BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(bodyLength)) != XxHash3.Hash64(bytes.AsSpan(0, bodyLength)))
        {
            problem = "fails its checksum";
            return false;
        }

        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, Magic.Length, bodyLength - Magic.Length));
            int format = reader.ReadInt32();
            if (format != Format)
            {
                problem = $"has format {format}, which this version cannot read";
                return false;
            }

            long sequence = reader.ReadInt64();
            int pageBits = reader.ReadInt32();
            int segmentBits = reader.ReadInt32();
            var log = new LogCheckpointInfo(new Guid(reader.ReadBytes(16)), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64());
            ulong logHash = reader.ReadUInt64();
            var indexToken = new Guid(reader.ReadBytes(16));
            ulong indexHash = reader.ReadUInt64();
            ulong tableHash = reader.ReadUInt64();
            long tableLength = reader.ReadInt64();
            int pages = reader.ReadInt32();
            if (pages is < -1 or > MaxPages || pageBits is < 9 or > 30 || segmentBits < pageBits || segmentBits > 40)
            {
                problem = "has values out of range";
                return false;
            }

            SortedDictionary<long, PageDigest>? digests = pages < 0 ? null : [];
            for (int i = 0; i < pages; i++)
            {
                digests![reader.ReadInt64()] = new PageDigest(reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadUInt64());
            }

            record = new CommitRecord(sequence, pageBits, segmentBits, log, logHash, indexToken, indexHash, tableHash, tableLength, digests);
            return true;
        }
        catch (EndOfStreamException)
        {
            problem = "is truncated";
            return false;
        }
    }
}
