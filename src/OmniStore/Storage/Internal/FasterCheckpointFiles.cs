using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace OmniStore.Storage.Internal;

/// <summary>What a FASTER hybrid-log checkpoint says it holds (its <c>info.dat</c>).</summary>
/// <param name="Token">The checkpoint's token (its directory's name).</param>
/// <param name="Version">The checkpoint's version; later checkpoints have higher ones.</param>
/// <param name="StartAddress">Where the log was when the checkpoint started.</param>
/// <param name="FinalAddress">The log's tail as of the checkpoint: recovery restores [begin, final).</param>
/// <param name="HeadAddress">The start of the in-memory part of the log, reloaded by recovery.</param>
/// <param name="BeginAddress">The log's first live address.</param>
internal readonly record struct LogCheckpointInfo(Guid Token, long Version, long StartAddress, long FinalAddress, long HeadAddress, long BeginAddress);

/// <summary>What a FASTER index checkpoint says it holds (its <c>info.dat</c>).</summary>
/// <param name="Token">The checkpoint's token.</param>
/// <param name="HashTableBytes">Bytes of hash table and overflow buckets in <c>ht.dat</c>.</param>
/// <param name="StartAddress">The log address from which recovery replays records into this index.</param>
/// <param name="FinalAddress">The log's tail when the index checkpoint completed.</param>
internal readonly record struct IndexCheckpointInfo(Guid Token, long HashTableBytes, long StartAddress, long FinalAddress);

/// <summary>
/// Finds and reads the checkpoint files FASTER keeps under a table's <c>checkpoints/</c> directory,
/// without FASTER: their metadata is checked here, with every length and address bounded, before
/// FASTER is allowed to trust any of it.
/// </summary>
/// <remarks>
/// FASTER (Microsoft.FASTER.Core 2.6) writes a checkpoint's metadata as a 4-byte little-endian length
/// followed by that many bytes of text, one value per line, padded with zeros to a sector; the
/// line order and the XOR checksum on the second line are those of its <c>HybridLogRecoveryInfo</c>
/// (format 5) and <c>IndexRecoveryInfo</c> (format 1). A later FASTER with another format is refused
/// here rather than misread.
/// </remarks>
internal static class FasterCheckpointFiles
{
    public const string LogCheckpoints = "cpr-checkpoints";
    public const string IndexCheckpoints = "index-checkpoints";
    public const string MetadataFile = "info.dat.0";
    public const string HashTableFile = "ht.dat.0";

    /// <summary>The first address FASTER gives a record: an empty log's begin and tail.</summary>
    public const long FirstValidAddress = 64;

    /// <summary>Addresses are 48 bits in FASTER's records and hash entries.</summary>
    public const long MaxAddress = (1L << 48) - 1;

    private const int MaxMetadataBytes = 1 << 16;
    private const int LogFormat = 5;
    private const int IndexFormat = 1;

    /// <summary>The checkpoint directory of <paramref name="kind"/> for <paramref name="token"/>, under a table's checkpoint directory.</summary>
    public static string DirectoryOf(string checkpointDirectory, string kind, Guid token) =>
        Path.Combine(checkpointDirectory, kind, token.ToString("D"));

    /// <summary>The tokens of the checkpoints of <paramref name="kind"/> on disk (directories named by a token).</summary>
    public static List<Guid> ListTokens(string checkpointDirectory, string kind)
    {
        string path = Path.Combine(checkpointDirectory, kind);
        var tokens = new List<Guid>();
        if (Directory.Exists(path))
        {
            foreach (var directory in Directory.EnumerateDirectories(path))
            {
                if (Guid.TryParseExact(Path.GetFileName(directory), "D", out var token))
                {
                    tokens.Add(token);
                }
            }
        }

        return tokens;
    }

    /// <summary>The bytes of a checkpoint's metadata file, at most 64 KiB; null if it is missing.</summary>
    public static byte[]? ReadMetadataFile(string checkpointDirectory, string kind, Guid token)
    {
        string path = Path.Combine(DirectoryOf(checkpointDirectory, kind, token), MetadataFile);
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (file.Length > MaxMetadataBytes)
            {
                return [];
            }

            var bytes = new byte[file.Length];
            file.ReadExactly(bytes);
            return bytes;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Parses a hybrid-log checkpoint's metadata; false (with the reason) if it is malformed.</summary>
    public static bool TryParseLog(ReadOnlySpan<byte> file, Guid token, out LogCheckpointInfo info, out string problem)
    {
        info = default;
        if (!TryReadLines(file, out var lines, out problem))
        {
            return false;
        }

        // format, checksum, guid, useSnapshotFile, version, nextVersion, flushed, snapshotStartFlushed,
        // start, final, snapshotFinal, head, begin, deltaTail, manualLocking, sessions (4+ lines each), object log segments
        if (lines.Count < 17
            || !int.TryParse(lines[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int format)
            || !long.TryParse(lines[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long checksum)
            || !Guid.TryParse(lines[2], out var guid)
            || !int.TryParse(lines[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out int useSnapshotFile)
            || !TryParseLongs(lines, 4, 10, out var values)
            || !int.TryParse(lines[15], NumberStyles.Integer, CultureInfo.InvariantCulture, out int sessions)
            || sessions is < 0 or > 4096)
        {
            problem = "its metadata is malformed";
            return false;
        }

        // values: version, nextVersion, flushed, snapshotStartFlushed, start, final, snapshotFinal, head, begin, deltaTail
        long version = values[0], flushed = values[2], snapshotStart = values[3], start = values[4], final = values[5], snapshotFinal = values[6], head = values[7], begin = values[8];
        int line = 16;
        for (int s = 0; s < sessions; s++)
        {
            // id, name, serial number, count of excluded serial numbers, the excluded ones
            if (line + 4 > lines.Count || !int.TryParse(lines[line + 3], NumberStyles.Integer, CultureInfo.InvariantCulture, out int excluded) || excluded < 0 || line + 4 + excluded > lines.Count)
            {
                problem = "its metadata is malformed";
                return false;
            }

            line += 4 + excluded;
        }

        if (line >= lines.Count || !int.TryParse(lines[line], NumberStyles.Integer, CultureInfo.InvariantCulture, out int objectLogSegments) || objectLogSegments < 0)
        {
            problem = "its metadata is malformed";
            return false;
        }

        if (format != LogFormat)
        {
            problem = $"its metadata has format {format}, not {LogFormat}";
            return false;
        }

        var g = guid.ToByteArray();
        long expected = BinaryPrimitives.ReadInt64LittleEndian(g) ^ BinaryPrimitives.ReadInt64LittleEndian(g.AsSpan(8))
            ^ version ^ flushed ^ snapshotStart ^ start ^ final ^ snapshotFinal ^ head ^ begin ^ sessions ^ objectLogSegments;
        if (checksum != expected || guid != token)
        {
            problem = "its metadata fails its checksum";
            return false;
        }

        // Only fold-over checkpoints are taken (the log itself is the checkpoint), never snapshots.
        if (useSnapshotFile != 0 || values[9] != -1)
        {
            problem = "it is a kind of checkpoint this store never takes";
            return false;
        }

        // The head may lag the begin address (a compaction can move both while the checkpoint records them).
        if (begin < FirstValidAddress || begin > final || head > final || start > final || final > MaxAddress || version < 0)
        {
            problem = $"its addresses are out of order (begin {begin}, head {head}, start {start}, final {final})";
            return false;
        }

        info = new LogCheckpointInfo(guid, version, start, final, head, begin);
        return true;
    }

    /// <summary>Parses an index checkpoint's metadata; false (with the reason) if it is malformed.</summary>
    public static bool TryParseIndex(ReadOnlySpan<byte> file, Guid token, out IndexCheckpointInfo info, out string problem)
    {
        info = default;
        if (!TryReadLines(file, out var lines, out problem))
        {
            return false;
        }

        // format, checksum, token, table size, hash table bytes, overflow bytes, buckets, start, final
        if (lines.Count < 9
            || !int.TryParse(lines[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int format)
            || !long.TryParse(lines[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long checksum)
            || !Guid.TryParse(lines[2], out var guid)
            || !long.TryParse(lines[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out long tableSize)
            || !ulong.TryParse(lines[4], NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong tableBytes)
            || !ulong.TryParse(lines[5], NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong overflowBytes)
            || !int.TryParse(lines[6], NumberStyles.Integer, CultureInfo.InvariantCulture, out int buckets)
            || !TryParseLongs(lines, 7, 2, out var addresses))
        {
            problem = "its metadata is malformed";
            return false;
        }

        if (format != IndexFormat)
        {
            problem = $"its metadata has format {format}, not {IndexFormat}";
            return false;
        }

        var g = guid.ToByteArray();
        long expected = BinaryPrimitives.ReadInt64LittleEndian(g) ^ BinaryPrimitives.ReadInt64LittleEndian(g.AsSpan(8))
            ^ tableSize ^ (long)tableBytes ^ (long)overflowBytes ^ buckets ^ addresses[0] ^ addresses[1];
        if (checksum != expected || guid != token)
        {
            problem = "its metadata fails its checksum";
            return false;
        }

        if (tableBytes > 1UL << 40 || overflowBytes > 1UL << 40 || addresses[0] < 0 || addresses[0] > addresses[1] || addresses[1] > MaxAddress)
        {
            problem = "its sizes or addresses are out of range";
            return false;
        }

        info = new IndexCheckpointInfo(guid, (long)(tableBytes + overflowBytes), addresses[0], addresses[1]);
        return true;
    }

    private static bool TryReadLines(ReadOnlySpan<byte> file, out List<string> lines, out string problem)
    {
        lines = [];
        problem = "";
        if (file.Length < sizeof(int))
        {
            problem = file.IsEmpty ? "its metadata is empty" : "its metadata is truncated";
            return false;
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(file);
        if (length <= 0 || length > file.Length - sizeof(int))
        {
            problem = "its metadata is truncated";
            return false;
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(file.Slice(sizeof(int), length));
        }
        catch (DecoderFallbackException)
        {
            problem = "its metadata is malformed";
            return false;
        }

        lines = [.. text.Split('\n').Select(l => l.TrimEnd('\r'))];
        return true;
    }

    private static bool TryParseLongs(List<string> lines, int from, int count, out long[] values)
    {
        values = new long[count];
        for (int i = 0; i < count; i++)
        {
            if (from + i >= lines.Count || !long.TryParse(lines[from + i], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i]))
            {
                return false;
            }
        }

        return true;
    }
}
