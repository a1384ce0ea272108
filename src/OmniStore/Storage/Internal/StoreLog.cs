using Microsoft.Extensions.Logging;

namespace OmniStore.Storage.Internal;

/// <summary>Log messages of the storage layer; event ids 1000-1099.</summary>
internal static partial class StoreLog
{
    [LoggerMessage(1000, LogLevel.Error, "Chunk {ChunkId} in {Directory} failed verification and was dropped")]
    public static partial void ChunkCorrupt(ILogger logger, string chunkId, string directory);

    [LoggerMessage(1001, LogLevel.Information, "{Mode} store {Directory}: pass freed {Freed} bytes, {Used} of {Capacity} bytes used")]
    public static partial void PassCompleted(ILogger logger, StoreMode mode, string directory, long freed, long used, long capacity);

    [LoggerMessage(1002, LogLevel.Warning, "The final checkpoint of {Directory} failed")]
    public static partial void FinalCheckpointFailed(ILogger logger, Exception exception, string directory);
}
