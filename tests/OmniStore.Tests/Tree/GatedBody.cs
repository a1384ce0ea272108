using OmniStore.Protocol;

namespace OmniStore.Tests.Tree;

/// <summary>
/// A body whose first <c>open</c> bytes may be sent at once and the rest only once the test calls
/// <see cref="Open"/>; <see cref="Paused"/> completes when the sender has sent what it could and waits.
/// </summary>
internal sealed class GatedBody(byte[] data, int open) : IArrivingBody
{
    private readonly TaskCompletionSource _rest = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _paused = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Length => data.Length;

    public ReadOnlyMemory<byte> Memory => data;

    /// <summary>The sender has sent every frame it could and waits for the rest.</summary>
    public Task Paused => _paused.Task;

    public void Open() => _rest.TrySetResult();

    public async ValueTask<int> WaitAsync(int bytes, CancellationToken cancellationToken)
    {
        if (bytes <= open || _rest.Task.IsCompleted)
        {
            return _rest.Task.IsCompleted ? data.Length : open;
        }

        _paused.TrySetResult();
        await _rest.Task.WaitAsync(cancellationToken);
        return data.Length;
    }

    public async ValueTask WaitCheckedAsync(CancellationToken cancellationToken)
    {
        if (!_rest.Task.IsCompleted)
        {
            _paused.TrySetResult();
        }

        await _rest.Task.WaitAsync(cancellationToken);
    }
}
