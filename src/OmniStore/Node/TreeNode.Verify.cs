using OmniStore.Content;

namespace OmniStore.Node;

/// <summary>
/// Verification of the node's store, when asked and on <see cref="TreeNodeOptions.VerifyInterval"/>:
/// every chunk is read and checked; a root repairs what is damaged from its relays' copies (a
/// relay's cache drops it, to be fetched again when asked for). See docs/storage.md, "Damaged chunks".
/// </summary>
internal sealed partial class TreeNode
{
    private VerifyResult? _lastVerification;

    /// <summary>What the last verification found; null before the first.</summary>
    internal VerifyResult? LastVerification => Volatile.Read(ref _lastVerification);

    /// <summary>Reads and checks every chunk of the store, then repairs what a relay below holds a verified copy of.</summary>
    internal async Task<VerifyResult> VerifyAsync(IProgress<VerifyProgress>? progress, CancellationToken cancellationToken)
    {
        var report = await _store.VerifyAsync(progress, cancellationToken).ConfigureAwait(false);
        var repaired = new List<ChunkId>();
        var left = new List<ChunkId>();
        if (!report.Dropped)
        {
            foreach (var damaged in report.Damaged)
            {
                (await RepairFromBelowAsync(damaged.Id, damaged.Length, cancellationToken).ConfigureAwait(false) ? repaired : left).Add(damaged.Id);
            }
        }

        var names = await _store.NamesUsingAsync(left, cancellationToken).ConfigureAwait(false);
        var result = new VerifyResult(report.Verified, report.Bytes, left, names, repaired);
        Volatile.Write(ref _lastVerification, result);
        NodeLog.Verified(_logger, report.Verified + report.Damaged.Count, report.Bytes, report.Damaged.Count, repaired.Count, left.Count, string.Join(", ", names.Take(16)));
        return result;
    }

    private async Task VerifyLoopAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    await VerifyAsync(progress: null, _stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OmniStoreException or IOException)
                {
                    NodeLog.VerifyFailed(_logger, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }
}
