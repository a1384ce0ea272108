using System.Collections.Concurrent;
using OmniStore.Content;
using OmniStore.Protocol;

namespace OmniStore.Node.Internal;

/// <summary>
/// A relay's defences against requests for what does not exist: the misses it remembers (per kind)
/// and each child connection's <see cref="ChildUpstreamBudget"/>, dropped when the child goes.
/// </summary>
internal sealed class RelayMisses
{
    private readonly ConcurrentDictionary<PeerConnection, ChildUpstreamBudget> _budgets = new();
    private readonly TreeNodeOptions _options;
    private long _remembered;
    private long _refused;

    public RelayMisses(TreeNodeOptions options)
    {
        _options = options;
        Chunks = new MissCache<ChunkId>(options.MissCacheSize, options.MissCacheTime);
        Manifests = new MissCache<ManifestId>(options.MissCacheSize, options.MissCacheTime);
        Names = new MissCache<string>(options.MissCacheSize, options.MissCacheTime, comparer: StringComparer.Ordinal);
    }

    public MissCache<ChunkId> Chunks { get; }

    public MissCache<ManifestId> Manifests { get; }

    public MissCache<string> Names { get; }

    /// <summary>Requests answered NotFound from a remembered miss, without asking the parent.</summary>
    public long Remembered => Interlocked.Read(ref _remembered);

    /// <summary>Requests refused because their connection had used up its miss allowance.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public void CountRemembered() => Interlocked.Increment(ref _remembered);

    /// <summary>Forgets every remembered miss: a binding changed, or the parent connection is new.</summary>
    public void ForgetAll()
    {
        Chunks.Clear();
        Manifests.Clear();
        Names.Clear();
    }

    /// <summary>A turn for <paramref name="child"/>'s request to ask the parent (see <see cref="ChildUpstreamBudget.EnterAsync"/>); no limit without a child.</summary>
    public async ValueTask<ChildUpstreamBudget.Lease> EnterAsync(PeerConnection? child, CancellationToken cancellationToken)
    {
        if (child is null)
        {
            return ChildUpstreamBudget.Lease.None;
        }

        try
        {
            return await BudgetOf(child).EnterAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OmniStoreException ex) when (ex.Error == OmniStoreError.Unavailable)
        {
            Interlocked.Increment(ref _refused);
            throw;
        }
    }

    private ChildUpstreamBudget BudgetOf(PeerConnection child)
    {
        if (_budgets.TryGetValue(child, out var budget))
        {
            return budget;
        }

        var created = new ChildUpstreamBudget(_options.MaxUpstreamFetchesPerChild, _options.UpstreamMissRate, _options.UpstreamMissBurst);
        var kept = _budgets.GetOrAdd(child, created);
        if (ReferenceEquals(kept, created))
        {
            _ = child.Completion.ContinueWith(_ => _budgets.TryRemove(KeyValuePair.Create(child, created)), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return kept;
    }
}
