using System.Threading.Channels;

namespace OmniStore.Tests.Infrastructure;

/// <summary>Runs a watch in the background and hands its changes over as they come, each wait bounded.</summary>
internal sealed class ChangeCollector : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly Channel<ObjectChange> _changes = Channel.CreateUnbounded<ObjectChange>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public ChangeCollector(IAsyncEnumerable<ObjectChange> watch) => _loop = Task.Run(() => RunAsync(watch));

    private async Task RunAsync(IAsyncEnumerable<ObjectChange> watch)
    {
        try
        {
            await foreach (var change in watch.WithCancellation(_stop.Token))
            {
                _changes.Writer.TryWrite(change);
            }

            _changes.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            _changes.Writer.TryComplete(ex);
        }
    }

    /// <summary>The next <paramref name="count"/> changes; fails if they do not come within a minute.</summary>
    public async Task<List<ObjectChange>> TakeAsync(int count)
    {
        var taken = new List<ObjectChange>(count);
        using var deadline = new CancellationTokenSource(Timeout);
        while (taken.Count < count)
        {
            taken.Add(await _changes.Reader.ReadAsync(deadline.Token));
        }

        return taken;
    }

    /// <summary>Whether a change is ready now.</summary>
    public bool HasMore => _changes.Reader.TryPeek(out _);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}
