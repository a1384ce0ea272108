using System.Text.Json;
using System.Text.Json.Serialization;

namespace OmniStore.Storage.Internal;

/// <summary>
/// <c>store.json</c>: what a store directory is and the layout choices that cannot change once data
/// is written. Written atomically (temp file + rename) once the store's first commit completed, so
/// a store that holds committed data always has one; rewritten only to upgrade its format.
/// </summary>
/// <remarks>
/// Format 1 (the first stores) recorded the chunk log's page size only, and its tables had no
/// commit records; format 2 adds the segment size, which earlier followed the capacity given at
/// each open (so a store reopened with another capacity read its log wrongly), and means that both
/// tables have a commit record (<see cref="CommitRecord"/>), which is then required.
/// </remarks>
internal sealed record StoreDescriptor
{
    public const int CurrentFormat = 2;
    public const string FileName = "store.json";

    [JsonPropertyName("format")]
    public int Format { get; init; } = CurrentFormat;

    [JsonPropertyName("dataPageSizeBits")]
    public int DataPageSizeBits { get; init; }

    /// <summary>log2 of the chunk log's segment size; 0 in format 1, where it is derived from the options.</summary>
    [JsonPropertyName("dataSegmentSizeBits")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int DataSegmentSizeBits { get; init; }

    /// <summary>A chunk plus its record header must fit in half a page.</summary>
    [JsonIgnore]
    public int MaxChunkSize => (int)Math.Min(Content.ChunkLayout.MaxChunkSize, 1L << (DataPageSizeBits - 1));

    /// <summary>The store's descriptor; null if it has none (a new store).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Corrupt"/> if it is malformed or out of range.</exception>
    public static StoreDescriptor? Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        StoreDescriptor? descriptor;
        try
        {
            descriptor = JsonSerializer.Deserialize(bytes, StoreDescriptorJson.Default.StoreDescriptor);
        }
        catch (JsonException ex)
        {
            // Not the parser's message: it quotes the offending bytes, which could be anything.
            throw new OmniStoreException(OmniStoreError.Corrupt, $"{FileName} is not a valid store descriptor (malformed at line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})", ex);
        }

        if (descriptor is null || descriptor.Format is < 1 or > CurrentFormat)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"{FileName} describes a store format this version cannot open ({descriptor?.Format})");
        }

        bool segmentInRange = descriptor.Format == 1
            ? descriptor.DataSegmentSizeBits == 0
            : descriptor.DataSegmentSizeBits >= descriptor.DataPageSizeBits && descriptor.DataSegmentSizeBits <= 30;
        if (descriptor.DataPageSizeBits is < 16 or > 30 || !segmentInRange)
        {
            throw new OmniStoreException(OmniStoreError.Corrupt, $"{FileName} gives a page size (2^{descriptor.DataPageSizeBits}) or segment size (2^{descriptor.DataSegmentSizeBits}) out of range");
        }

        return descriptor;
    }

    /// <summary>Writes the descriptor (atomically; durably when <paramref name="durable"/>).</summary>
    public void Save(string directory, bool durable) =>
        DurableFile.Write(Path.Combine(directory, FileName), JsonSerializer.SerializeToUtf8Bytes(this, StoreDescriptorJson.Default.StoreDescriptor), durable);

    /// <summary>
    /// For a directory without a descriptor: the first table file that shows a completed commit with
    /// data (a commit record or a checkpoint of a non-empty log), or null when the directory holds at
    /// most what an interrupted creation leaves. Then the descriptor was lost, not yet written.
    /// </summary>
    public static string? FindCommittedData(string directory, IEnumerable<string> tables)
    {
        foreach (string table in tables)
        {
            string tableDirectory = Path.Combine(directory, table);
            string record = Path.Combine(tableDirectory, CommitRecord.FileName);
            if (File.Exists(record)
                && (!CommitRecord.TryParse(File.ReadAllBytes(record), out var parsed, out _) || parsed!.Log.FinalAddress > FasterCheckpointFiles.FirstValidAddress))
            {
                return $"{table}/{CommitRecord.FileName}";
            }

            string checkpoints = Path.Combine(tableDirectory, "checkpoints");
            foreach (var token in FasterCheckpointFiles.ListTokens(checkpoints, FasterCheckpointFiles.LogCheckpoints))
            {
                if (FasterCheckpointFiles.ReadMetadataFile(checkpoints, FasterCheckpointFiles.LogCheckpoints, token) is { } metadata
                    && (!FasterCheckpointFiles.TryParseLog(metadata, token, out var info, out _) || info.FinalAddress > FasterCheckpointFiles.FirstValidAddress))
                {
                    return $"{table}/checkpoints/{FasterCheckpointFiles.LogCheckpoints}/{token:D}";
                }
            }
        }

        return null;
    }
}

[JsonSerializable(typeof(StoreDescriptor))]
internal sealed partial class StoreDescriptorJson : JsonSerializerContext;
