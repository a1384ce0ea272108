using OmniStore.Node.Internal;
using OmniStore.Protocol;

namespace OmniStore.Node.Upstream;

/// <summary>
/// A relay's bounds on what its children can make it ask its parent (docs/architecture.md, "Misses"):
/// per child, upstream requests in flight and misses per second; per node, misses remembered for a
/// few seconds.
/// </summary>
internal sealed partial class ParentUpstream
{
    /// <summary>
    /// Asks the parent on behalf of <paramref name="child"/>'s request, within that child's budget:
    /// waits for a turn, fails with <see cref="OmniStoreError.Unavailable"/> when the child has caused
    /// too many misses, and counts an error answer as a miss.
    /// </summary>
    private async Task<T> AskParentForAsync<T>(PeerConnection? child, Func<Task<T>> ask, CancellationToken cancellationToken)
    {
        using var lease = await _misses.EnterAsync(child, cancellationToken).ConfigureAwait(false);
        try
        {
            return await ask().ConfigureAwait(false);
        }
        catch (OmniStoreException ex) when (IsUpstreamMiss(ex))
        {
            lease.Miss();
            throw;
        }
    }

    /// <summary>An error answer from upstream, as opposed to the parent being out of reach.</summary>
    private static bool IsUpstreamMiss(OmniStoreException ex) => ex.Error is not (OmniStoreError.Unavailable or OmniStoreError.Cancelled);

    /// <summary>
    /// Runs an upstream request for <paramref name="key"/> (inside its single flight); a NotFound
    /// answer is remembered. If remembered misses were invalidated while the parent was being asked
    /// (a binding update, a write through this relay), the answer may be older than a Put that has
    /// returned since: it is not remembered, and the parent is asked once more.
    /// </summary>
    private static async Task<T> RememberMissAsync<TKey, T>(MissCache<TKey> misses, TKey key, Func<Task<T>> ask)
        where TKey : notnull
    {
        for (int attempt = 0; ; attempt++)
        {
            long generation = misses.Generation;
            try
            {
                return await ask().ConfigureAwait(false);
            }
            catch (OmniStoreException ex) when (ex.Error == OmniStoreError.NotFound)
            {
                if (misses.TryRemember(key, generation) || attempt > 0)
                {
                    throw;
                }
            }
        }
    }
}
