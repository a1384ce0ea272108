namespace OmniStore.Internal;

/// <summary>
/// Shares one disposable (a received message whose buffer two users read) among a fixed number of
/// owners: each disposes its share once, and the last one disposes the thing itself.
/// </summary>
internal sealed class SharedOwner(IDisposable shared, int owners) : IDisposable
{
    private int _owners = owners > 0 ? owners : throw new ArgumentOutOfRangeException(nameof(owners));

    /// <summary>Gives up one share; the last disposes what is shared. More calls than shares are a bug, and ignored.</summary>
    public void Dispose()
    {
        int left = Interlocked.Decrement(ref _owners);
        if (left == 0)
        {
            shared.Dispose();
        }
    }
}
