using Microsoft.Extensions.Logging;

namespace OmniStore.Storage.Internal;

/// <summary>Log messages of the storage layer; event ids 1000-1099.</summary>
internal static partial class StoreLog
{
    [LoggerMessage(1000, LogLevel.Error, "Chunk {ChunkId} in {Directory} failed verification and was dropped")]
    public static partial void ChunkCorrupt(ILogger logger, string chunkId, string directory);

    [LoggerMessage(1004, LogLevel.Error, "Chunk {ChunkId} in {Directory} failed verification; the store keeps it marked damaged until a verified copy replaces it")]
    public static partial void ChunkDamaged(ILogger logger, string chunkId, string directory);

    [LoggerMessage(1005, LogLevel.Warning, "Chunk {ChunkId} in {Directory} was damaged and is repaired from a verified copy")]
    public static partial void ChunkRepaired(ILogger logger, string chunkId, string directory);

    [LoggerMessage(1001, LogLevel.Information, "{Mode} store {Directory}: pass freed {Freed} bytes, {Used} of {Capacity} bytes used")]
    public static partial void PassCompleted(ILogger logger, StoreMode mode, string directory, long freed, long used, long capacity);

    [LoggerMessage(1002, LogLevel.Warning, "The final checkpoint of {Directory} failed")]
    public static partial void FinalCheckpointFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(1003, LogLevel.Information, "Store {Directory} keeps the log segments of {Segment} bytes it was created with; its capacity now would give segments of {Wanted} bytes (a cache gets them when its directory is removed and refilled)")]
    public static partial void SegmentSizeKept(ILogger logger, string directory, long segment, long wanted);

    // 1040-1049: background checkpoints (ContentStore.Checkpoints.cs).
    [LoggerMessage(1040, LogLevel.Debug, "Store {Directory} checkpointed in the background ({Bytes} bytes written since the last commit, by {Trigger}) in {Milliseconds:0} ms")]
    public static partial void BackgroundCheckpoint(ILogger logger, string directory, long bytes, string trigger, double milliseconds);

    [LoggerMessage(1041, LogLevel.Warning, "A background checkpoint of {Directory} failed; the next try is in {Seconds} s, and a crash meanwhile loses what was written since the last commit")]
    public static partial void BackgroundCheckpointFailed(ILogger logger, Exception exception, string directory, double seconds);

    // 1010-1019: reclamation passes (ContentStore.Collect.cs).
    [LoggerMessage(1010, LogLevel.Information, "Store {Directory}: a reclamation pass starts in the background ({Garbage} bytes of objects were removed or replaced since the last one, of {Log} bytes of chunk log)")]
    public static partial void BackgroundPassStarted(ILogger logger, string directory, long garbage, long log);

    [LoggerMessage(1011, LogLevel.Warning, "The background reclamation pass of {Directory} failed; the store goes on serving, and the next pass tries again")]
    public static partial void BackgroundPassFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(1012, LogLevel.Information, "Store {Directory}: the reclamation pass stopped after {Scanned} of {Total} bytes of chunk log; the next one goes on")]
    public static partial void PassStopped(ILogger logger, string directory, long scanned, long total);

    // 1050-1059: chunks written behind (ContentStore.WriteBehind.cs).
    [LoggerMessage(1050, LogLevel.Debug, "A chunk written behind was not cached ({Chunk}): {Reason}")]
    public static partial void WriteBehindFailed(ILogger logger, Content.ChunkId chunk, string reason);

    // 1060-1069: the journal (ContentStore.Journal.cs).
    [LoggerMessage(1060, LogLevel.Information, "Store {Directory}: replayed {Records} journaled writes from {Files} journal files left by a crash")]
    public static partial void JournalReplayed(ILogger logger, string directory, int records, int files);

    [LoggerMessage(1061, LogLevel.Warning, "The commit of {Directory} that keeps its journal short failed; the journal grows until one succeeds")]
    public static partial void JournalCommitFailed(ILogger logger, Exception exception, string directory);
}
