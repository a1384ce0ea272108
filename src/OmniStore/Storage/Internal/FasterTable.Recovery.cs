using OmniStore.Content;

namespace OmniStore.Storage.Internal;

/// <summary>How a <see cref="FasterTable"/> checks its files at open, and what it records at each commit.</summary>
/// <param name="Name">The table's directory name, which errors use to name its files (<c>data</c>, <c>catalog</c>).</param>
/// <param name="Limits">The sizes its records' keys and values may have.</param>
/// <param name="DigestRecords">
/// Whether every record's content is digested (page by page) at commit and checked at open: for a
/// table whose every byte matters and that is small enough to read whole at open (the catalog), not
/// for chunks, which verify themselves against their ids whenever they are read.
/// </param>
/// <param name="RequireRecord">Whether the table must have a commit record (every store but one written before they existed).</param>
/// <param name="LayoutSource">What sets the table's page and segment sizes, for errors (<c>store.json</c>).</param>
internal sealed record TableIntegrity(string Name, RecordLimits Limits, bool DigestRecords, bool RequireRecord, string LayoutSource);

/// <summary>The checkpoint pair recovery uses, checked, and what the table holds once recovered.</summary>
internal readonly record struct RecoveryPlan(LogCheckpointInfo Log, Guid IndexToken);

internal sealed partial class FasterTable
{
    private readonly TableIntegrity _integrity;
    private readonly int _pageBits;
    private readonly string _checkpointDirectory;

    // What the last commit recorded, and the page digests of [begin, final) of its log when the
    // table digests its records; updated by each commit (RecordCheckpoint), read by no one else.
    private CommitRecord? _lastRecord;
    private SortedDictionary<long, PageDigest>? _digests;
    private long _digestBegin, _digestFinal;

    private string CheckpointName(string kind, Guid token) => $"{_integrity.Name}/checkpoints/{kind}/{token:D}";

    private LogFileReader OpenLogReader() => new(Path.Combine(DirectoryPath, "log"), $"{_integrity.Name}/log", _pageBits, _segmentBits);

    /// <summary>
    /// Checks the files recovery will read and picks the checkpoints to recover from; null for a new
    /// table. Everything FASTER trusts blindly is checked here: the checkpoint metadata and hash table
    /// (against the commit record's hashes), the log segments (present and long enough for the
    /// checkpoint), and the header of every record recovery replays or loads into memory. A table
    /// that digests its records has every record checked against the commit record's digests.
    /// </summary>
    private RecoveryPlan? PlanRecovery()
    {
        var (record, damaged) = ReadRecords();
        var logTokens = FasterCheckpointFiles.ListTokens(_checkpointDirectory, FasterCheckpointFiles.LogCheckpoints);
        if (record is null)
        {
            return !_integrity.RequireRecord ? PlanRecoveryWithoutRecord(logTokens)
                : damaged is not null ? throw Damaged(damaged)
                : throw Damaged($"{_integrity.Name}/{CommitRecord.FileName} is missing");
        }

        try
        {
            return PlanRecoveryFromRecord(record, logTokens);
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Corrupt && damaged is not null)
        {
            throw Damaged($"{damaged}, and the other commit record does not match the files ({ex.Message})", ex);
        }
    }

    private RecoveryPlan PlanRecoveryFromRecord(CommitRecord record, List<Guid> logTokens)
    {
        if (record.PageSizeBits != _pageBits || record.SegmentSizeBits != _segmentBits)
        {
            throw Damaged($"{_integrity.LayoutSource} gives {_integrity.Name}/log pages of {1L << _pageBits} bytes and segments of {1L << _segmentBits}, but it was written with pages of {1L << record.PageSizeBits} and segments of {1L << record.SegmentSizeBits} ({_integrity.Name}/{CommitRecord.SlotFileName(record.Sequence)})");
        }

        // The checkpoint the last commit recorded must be there, as recorded.
        var recorded = record.Log;
        string recordedName = CheckpointName(FasterCheckpointFiles.LogCheckpoints, recorded.Token);
        var metadata = FasterCheckpointFiles.ReadMetadataFile(_checkpointDirectory, FasterCheckpointFiles.LogCheckpoints, recorded.Token)
            ?? throw Damaged($"{recordedName} is missing: it is the checkpoint of the last commit");
        if (XxHash3.Hash64(metadata) != record.LogMetadataHash)
        {
            throw Damaged($"{recordedName}/{FasterCheckpointFiles.MetadataFile} does not match the last commit (cut short or altered)");
        }

        // A later checkpoint that the record does not name yet completed just before a crash; its
        // commit was not acknowledged, but FASTER may already have truncated the log to its begin
        // address, so it is the one to recover. It must hold at least what the recorded one holds.
        var log = recorded;
        foreach (var token in logTokens)
        {
            if (token != recorded.Token
                && FasterCheckpointFiles.ReadMetadataFile(_checkpointDirectory, FasterCheckpointFiles.LogCheckpoints, token) is { } later
                && FasterCheckpointFiles.TryParseLog(later, token, out var info, out _)
                && info.Version > log.Version && info.BeginAddress >= recorded.BeginAddress && info.FinalAddress >= recorded.FinalAddress)
            {
                log = info;
            }
        }

        // The index checkpoint the record names, with its hash table as it was written.
        string indexName = CheckpointName(FasterCheckpointFiles.IndexCheckpoints, record.IndexToken);
        var indexMetadata = FasterCheckpointFiles.ReadMetadataFile(_checkpointDirectory, FasterCheckpointFiles.IndexCheckpoints, record.IndexToken)
            ?? throw Damaged($"{indexName} is missing: it is the hash index of the last commit");
        if (XxHash3.Hash64(indexMetadata) != record.IndexMetadataHash
            || !FasterCheckpointFiles.TryParseIndex(indexMetadata, record.IndexToken, out var index, out _))
        {
            throw Damaged($"{indexName}/{FasterCheckpointFiles.MetadataFile} does not match the last commit (cut short or altered)");
        }

        var (tableHash, tableLength) = HashFile(Path.Combine(FasterCheckpointFiles.DirectoryOf(_checkpointDirectory, FasterCheckpointFiles.IndexCheckpoints, record.IndexToken), FasterCheckpointFiles.HashTableFile))
            ?? throw Damaged($"{indexName}/{FasterCheckpointFiles.HashTableFile} is missing");
        if (tableLength < record.HashTableLength || tableLength < index.HashTableBytes)
        {
            throw Damaged($"{indexName}/{FasterCheckpointFiles.HashTableFile} is cut short: {tableLength} bytes where the last commit wrote {record.HashTableLength}");
        }

        if (tableLength != record.HashTableLength || tableHash != record.HashTableHash)
        {
            throw Damaged($"{indexName}/{FasterCheckpointFiles.HashTableFile} does not match the last commit (altered)");
        }

        CheckLog(log, index, record);
        _lastRecord = record;
        return new RecoveryPlan(log, record.IndexToken);
    }

    /// <summary>
    /// A table written before commit records existed: its checkpoint metadata and log are checked as
    /// far as they can be without one (FASTER's own checksums, segment lengths, record headers), and
    /// its first commit here writes the record.
    /// </summary>
    private RecoveryPlan? PlanRecoveryWithoutRecord(List<Guid> logTokens)
    {
        LogCheckpointInfo? log = null;
        string? problem = null;
        foreach (var token in logTokens)
        {
            var metadata = FasterCheckpointFiles.ReadMetadataFile(_checkpointDirectory, FasterCheckpointFiles.LogCheckpoints, token);
            string why = "its metadata is missing";
            if (metadata is not null && FasterCheckpointFiles.TryParseLog(metadata, token, out var info, out why))
            {
                if (log is null || info.Version > log.Value.Version)
                {
                    log = info;
                }
            }
            else
            {
                problem = $"{CheckpointName(FasterCheckpointFiles.LogCheckpoints, token)}: {why}";
            }
        }

        if (log is null)
        {
            if (problem is not null)
            {
                throw Damaged(problem);
            }

            // No checkpoint: a new table, unless its log holds data that only a checkpoint could recover.
            foreach (var segment in Directory.EnumerateFiles(DirectoryPath, "log.*"))
            {
                if (new FileInfo(segment).Length > 0)
                {
                    throw Damaged($"{_integrity.Name}/checkpoints holds no checkpoint, but {_integrity.Name}/{Path.GetFileName(segment)} holds data");
                }
            }

            return null;
        }

        // The newest index checkpoint recovery can use with this log checkpoint, if its hash table is whole.
        IndexCheckpointInfo? index = null;
        foreach (var token in FasterCheckpointFiles.ListTokens(_checkpointDirectory, FasterCheckpointFiles.IndexCheckpoints))
        {
            var metadata = FasterCheckpointFiles.ReadMetadataFile(_checkpointDirectory, FasterCheckpointFiles.IndexCheckpoints, token);
            string name = CheckpointName(FasterCheckpointFiles.IndexCheckpoints, token);
            string why = "its metadata is missing";
            if (metadata is null || !FasterCheckpointFiles.TryParseIndex(metadata, token, out var info, out why))
            {
                throw Damaged($"{name}: {why}");
            }

            long length = new FileInfo(Path.Combine(FasterCheckpointFiles.DirectoryOf(_checkpointDirectory, FasterCheckpointFiles.IndexCheckpoints, token), FasterCheckpointFiles.HashTableFile)) is { Exists: true } file ? file.Length : -1;
            if (length < info.HashTableBytes)
            {
                throw Damaged($"{name}/{FasterCheckpointFiles.HashTableFile} is {(length < 0 ? "missing" : $"cut short: {length} bytes of {info.HashTableBytes}")}");
            }

            if (info.FinalAddress <= log.Value.FinalAddress && (index is null || info.FinalAddress > index.Value.FinalAddress))
            {
                index = info;
            }
        }

        CheckLog(log.Value, index, null);
        return new RecoveryPlan(log.Value, index?.Token ?? Guid.Empty);
    }

    /// <summary>
    /// Checks the log for recovery from <paramref name="log"/> and <paramref name="index"/>: the
    /// segments of [begin, final) exist and are long enough, and every record recovery reads is well
    /// formed; with digests, every record of [begin, final) is read and matched against
    /// <paramref name="record"/>'s digests where it covers the same range.
    /// </summary>
    private void CheckLog(LogCheckpointInfo log, IndexCheckpointInfo? index, CommitRecord? record)
    {
        using var reader = OpenLogReader();
        reader.CheckSegments(log.BeginAddress, log.FinalAddress);
        if (_integrity.DigestRecords)
        {
            var digests = reader.Digest(log.BeginAddress, log.FinalAddress, _integrity.Limits);
            if (record?.Digests is { } recorded)
            {
                CompareDigests(digests, recorded, exact: log.Token == record.Log.Token);
            }

            (_digests, _digestBegin, _digestFinal) = (digests, log.BeginAddress, log.FinalAddress);
            return;
        }

        // FASTER replays the log from the index checkpoint's start (or the log's begin if the index
        // is older than it), and reloads the pages from the checkpoint's head address into memory.
        long replayFrom = index is { } i && i.StartAddress > log.BeginAddress ? i.StartAddress : log.BeginAddress;
        long scanFrom = Math.Min(log.HeadAddress, replayFrom);
        long walkFrom = Math.Max(log.BeginAddress, (scanFrom >> _pageBits) << _pageBits);
        reader.Walk(walkFrom, log.FinalAddress, _integrity.Limits, null);
    }

    /// <summary>
    /// Zeroes the rest of the 4 KiB sector that holds the log's end as of the checkpoint to recover.
    /// FASTER reads the last page up to the end of that sector and then walks every record header
    /// on the page (ClearLocksOnPage), past the checkpoint's end too. What lies there was written
    /// after the checkpoint: no checkpoint holds it and the next record overwrites it, but a kill
    /// during its write leaves it cut short, and a header whose length runs out of the page crashes
    /// the walk with an access violation that no handler catches. Zeroes read as empty slots.
    /// </summary>
    private void ClearPastTheEnd(long final)
    {
        int inSector = (int)(final & (PreallocatingFileDevice.DirectAlignment - 1));
        if (inSector == 0)
        {
            return;
        }

        string path = Path.Combine(DirectoryPath, $"log.{final >> _segmentBits}");
        if (!File.Exists(path))
        {
            return; // an empty log, never flushed (a missing segment of a log that has records is refused by CheckLog)
        }

        long offset = final & ((1L << _segmentBits) - 1);
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        int length = (int)Math.Min(PreallocatingFileDevice.DirectAlignment - inSector, Math.Max(0, RandomAccess.GetLength(file) - offset));
        Span<byte> rest = stackalloc byte[PreallocatingFileDevice.DirectAlignment];
        rest = rest[..length];
        int read = RandomAccess.Read(file, rest, offset);
        if (rest[..read].ContainsAnyExcept((byte)0))
        {
            rest.Clear();
            RandomAccess.Write(file, rest[..read], offset);
        }
    }

    private void CompareDigests(SortedDictionary<long, PageDigest> found, SortedDictionary<long, PageDigest> recorded, bool exact)
    {
        foreach (var (page, digest) in found)
        {
            if (!recorded.TryGetValue(page, out var expected) || expected.From != digest.From || expected.Until != digest.Until)
            {
                if (exact)
                {
                    throw Damaged($"{PageName(page)} does not match the last commit: the commit record has no digest of addresses {digest.From}-{digest.Until}");
                }

                continue; // a range the recorded commit did not have (a later checkpoint's)
            }

            if (expected.Records != digest.Records || expected.Sum != digest.Sum)
            {
                string how = expected.Records == digest.Records ? "their content differs" : $"{digest.Records} records found where {expected.Records} were committed";
                throw Damaged($"{PageName(page)} does not match the last commit: the records at addresses {digest.From}-{digest.Until} were altered ({how})");
            }
        }
    }

    private string PageName(long page) => $"{_integrity.Name}/log.{(page << _pageBits) >> _segmentBits}";

    /// <summary>After FASTER's recovery: it holds exactly what the checkpoint holds, never less.</summary>
    private void CheckRecovered(RecoveryPlan plan)
    {
        var recovered = _kv.Log;
        if (recovered.BeginAddress != plan.Log.BeginAddress || recovered.TailAddress < plan.Log.FinalAddress)
        {
            throw Damaged($"{_integrity.Name}: recovery restored log addresses {recovered.BeginAddress}-{recovered.TailAddress}, but the checkpoint holds {plan.Log.BeginAddress}-{plan.Log.FinalAddress}");
        }
    }

    /// <summary>
    /// The table's latest commit record: the valid one of the two with the higher sequence number;
    /// null if there is none. A record that fails its checksum is what a crash during its write
    /// leaves, and the other one is then the latest; if that one turns out not to match the files
    /// (<see cref="PlanRecovery"/>), the damaged record is what the refusal names.
    /// </summary>
    private (CommitRecord? Latest, string? Damaged) ReadRecords()
    {
        CommitRecord? latest = null;
        string? damaged = null;
        for (int slot = 0; slot < 2; slot++)
        {
            string name = CommitRecord.SlotFileName(slot);
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(Path.Combine(DirectoryPath, name));
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                continue;
            }

            if (!CommitRecord.TryParse(bytes, out var record, out string problem))
            {
                damaged = $"{_integrity.Name}/{name} {problem}";
            }
            else if (latest is null || record!.Sequence > latest.Sequence)
            {
                latest = record;
            }
        }

        return (latest, damaged);
    }

    /// <summary>XXH3-64 and length of a file, read in 1 MiB blocks; null if it is missing.</summary>
    private static (ulong Hash, long Length)? HashFile(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 20);
            var hasher = new XxHash3Hasher();
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                int read;
                while ((read = file.Read(buffer, 0, 1 << 20)) > 0)
                {
                    hasher.Append(buffer.AsSpan(0, read));
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }

            return (hasher.GetCurrentHash64(), (long)hasher.Length);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static OmniStoreException Damaged(string problem, Exception? inner = null) => new(OmniStoreError.Corrupt, problem, inner);
}
