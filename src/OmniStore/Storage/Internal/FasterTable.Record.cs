using OmniStore.Content;

namespace OmniStore.Storage.Internal;

internal sealed partial class FasterTable
{
    // The log address below which the segment holding the begin address was given back to the disk.
    private long _releasedUntil;

    /// <summary>
    /// Writes the commit record for the checkpoint <paramref name="token"/> just completed, then
    /// removes every other checkpoint: the record always names checkpoints that are on disk, and a
    /// crash between FASTER's checkpoint and the record leaves the previous record, still valid.
    /// </summary>
    private void RecordCheckpoint(Guid token, bool withIndex)
    {
        var metadata = FasterCheckpointFiles.ReadMetadataFile(_checkpointDirectory, FasterCheckpointFiles.LogCheckpoints, token)
            ?? throw new OmniStoreException(OmniStoreError.Unavailable, $"The checkpoint of '{DirectoryPath}' wrote no metadata.");
        if (!FasterCheckpointFiles.TryParseLog(metadata, token, out var log, out string problem))
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The checkpoint of '{DirectoryPath}' wrote metadata that does not parse: {problem}.");
        }

        Guid indexToken;
        ulong indexHash, tableHash;
        long tableLength;
        if (withIndex || _lastRecord is null)
        {
            // A full checkpoint uses one token for the index and the log.
            var indexMetadata = withIndex ? FasterCheckpointFiles.ReadMetadataFile(_checkpointDirectory, FasterCheckpointFiles.IndexCheckpoints, token) : null;
            if (indexMetadata is null)
            {
                throw new OmniStoreException(OmniStoreError.Unavailable, $"The checkpoint of '{DirectoryPath}' has no hash index to record.");
            }

            indexToken = token;
            indexHash = XxHash3.Hash64(indexMetadata);
            (tableHash, tableLength) = HashFile(Path.Combine(FasterCheckpointFiles.DirectoryOf(_checkpointDirectory, FasterCheckpointFiles.IndexCheckpoints, token), FasterCheckpointFiles.HashTableFile))
                ?? throw new OmniStoreException(OmniStoreError.Unavailable, $"The checkpoint of '{DirectoryPath}' wrote no hash table.");
        }
        else
        {
            (indexToken, indexHash, tableHash, tableLength) = (_lastRecord.IndexToken, _lastRecord.IndexMetadataHash, _lastRecord.HashTableHash, _lastRecord.HashTableLength);
        }

        SortedDictionary<long, PageDigest>? digests = null;
        if (_integrity.DigestRecords)
        {
            digests = UpdateDigests(log);
        }

        var record = new CommitRecord((_lastRecord?.Sequence ?? 0) + 1, _pageBits, _segmentBits, log, XxHash3.Hash64(metadata), indexToken, indexHash, tableHash, tableLength, digests);
        DurableFile.Overwrite(Path.Combine(DirectoryPath, CommitRecord.SlotFileName(record.Sequence)), record.ToBytes(), _durability == CommitDurability.Fsync);
        _lastRecord = record;
        _digests = digests;
        (_digestBegin, _digestFinal) = (log.BeginAddress, log.FinalAddress);
        RemoveCheckpointsExcept(FasterCheckpointFiles.LogCheckpoints, token);
        RemoveCheckpointsExcept(FasterCheckpointFiles.IndexCheckpoints, indexToken);
        ReleaseBelowBegin(log);
    }

    /// <summary>
    /// Waits, at most <paramref name="timeout"/>, until FASTER has removed the segments wholly below the
    /// begin address: it does so in the background after a checkpoint, and a caller that reports the
    /// space given back wants it counted.
    /// </summary>
    public void WaitForRemovedSegments(TimeSpan timeout)
    {
        int beginSegment = (int)(_kv.Log.BeginAddress >> _segmentBits);
        var deadline = DateTime.UtcNow + timeout;
        while (Directory.EnumerateFiles(DirectoryPath, "log.*").Any(path => int.TryParse(Path.GetExtension(path).AsSpan(1), out int segment) && segment < beginSegment)
            && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(20);
        }
    }

    /// <summary>
    /// Gives the disk the blocks of the segment holding the recorded begin address, up to the start of
    /// the page that holds it (or the head address's, if lower): FASTER removes only whole segments
    /// below the begin address, so without this a pass that moves the begin into a 1 GiB segment
    /// frees nothing of it. Only once the commit record names this begin: every checkpoint recovery
    /// may use from now on (this one, or a later one) starts at or above it, and recovery reads whole
    /// pages from the page of the head or begin address, never below.
    /// </summary>
    private void ReleaseBelowBegin(LogCheckpointInfo log)
    {
        long until = (Math.Min(log.BeginAddress, log.HeadAddress) >> _pageBits) << _pageBits;
        long segmentStart = (until >> _segmentBits) << _segmentBits;
        long from = Math.Max(segmentStart, _releasedUntil);
        if (until <= from)
        {
            return;
        }

        if (_device.PunchHole((int)(until >> _segmentBits), from - segmentStart, until - from))
        {
            _releasedUntil = until;
        }
    }

    /// <summary>
    /// The page digests of the new checkpoint's [begin, final): those of the previous one, less the
    /// pages dropped below the new begin, with the page holding the new begin digested again from
    /// there, and the records written since the previous final added. Only new records are read.
    /// </summary>
    private SortedDictionary<long, PageDigest> UpdateDigests(LogCheckpointInfo log)
    {
        long previousBegin = _digestBegin, previousFinal = _digestFinal;
        var digests = new SortedDictionary<long, PageDigest>(_digests ?? []);
        using var reader = OpenLogReader();
        if (_digests is null || log.BeginAddress < previousBegin || log.FinalAddress < previousFinal)
        {
            // Nothing to build on (or a log that went backwards, which FASTER never does): read it all.
            return reader.Digest(log.BeginAddress, log.FinalAddress, _integrity.Limits);
        }

        long beginPage = log.BeginAddress >> _pageBits;
        foreach (long page in digests.Keys.Where(p => p < beginPage).ToList())
        {
            digests.Remove(page);
        }

        if (log.BeginAddress != previousBegin)
        {
            digests.Remove(beginPage);
            long pageEnd = (beginPage + 1) << _pageBits;
            if (log.BeginAddress < previousFinal)
            {
                foreach (var (page, digest) in reader.Digest(log.BeginAddress, Math.Min(pageEnd, previousFinal), _integrity.Limits))
                {
                    digests[page] = digest;
                }
            }
        }

        long from = Math.Max(previousFinal, log.BeginAddress);
        if (from < log.FinalAddress)
        {
            for (long page = from >> _pageBits; page <= (log.FinalAddress - 1) >> _pageBits; page++)
            {
                long pageStart = page << _pageBits, pageEnd = (page + 1) << _pageBits;
                long until = Math.Min(log.FinalAddress, pageEnd);
                digests[page] = digests.TryGetValue(page, out var known)
                    ? known with { Until = until }
                    : new PageDigest(Math.Max(from, pageStart), until, 0, 0);
            }

            reader.Walk(from, log.FinalAddress, _integrity.Limits, digests);
        }

        return digests;
    }

    private void RemoveCheckpointsExcept(string kind, Guid keep)
    {
        foreach (var token in FasterCheckpointFiles.ListTokens(_checkpointDirectory, kind))
        {
            if (token == keep)
            {
                continue;
            }

            try
            {
                Directory.Delete(FasterCheckpointFiles.DirectoryOf(_checkpointDirectory, kind, token), recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Still held open or already gone: the next commit tries again.
            }
        }
    }
}
