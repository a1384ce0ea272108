using OmniStore.Content;
using OmniStore.Protocol;

namespace OmniStore.Node.Internal;

/// <summary>
/// One upstream fetch of a chunk at a relay, read by every request that missed it while it runs
/// (docs/architecture.md, "Cut-through on a miss"): the answer's one buffer is shared by the fetch,
/// each reader and the store's writer, and goes back to its pool when the last of them gives up its
/// share. Readers stream the bytes as they arrive and finish once the fetch has checked them.
/// </summary>
internal sealed class ChunkFetch
{
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource<StreamingAnswer?> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<bool> _checked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private StreamingAnswer? _answer;
    private int _shares = 1;

    public ChunkFetch(ChunkId id, int length)
    {
        Id = id;
        Length = length;
    }

    public ChunkId Id { get; }

    /// <summary>The chunk's length, as asked.</summary>
    public int Length { get; }

    /// <summary>
    /// Completes once the parent's answer has begun with this chunk's header (the answer, whose
    /// bytes readers may stream), or with null when an earlier fetch had cached the chunk already (read
    /// the store); faults when the fetch failed before its first bytes.
    /// </summary>
    public Task<StreamingAnswer?> Started => _started.Task;

    /// <summary>Completes once the whole chunk arrived and matches its id: true if the store took it, false if the cache could not; faults when the fetch failed.</summary>
    public Task<bool> Checked => _checked.Task;

    /// <summary>
    /// A reader's share of the fetch, or null once it has failed (even if its failure is not
    /// settled yet: its answer failed) or ended and given up its buffer: then a new fetch is due,
    /// or the store has the chunk.
    /// </summary>
    public Reader? TryJoin()
    {
        lock (_gate)
        {
            if (_shares == 0 || _checked.Task.IsFaulted || _answer is { Completion.IsFaulted: true })
            {
                return null;
            }

            _shares++;
            return new Reader(this);
        }
    }

    /// <summary>The fetch's answer has begun (its header checked): readers may stream it. The fetch's share of the fetch holds the answer's share.</summary>
    public void Start(StreamingAnswer answer)
    {
        lock (_gate)
        {
            _answer = answer;
        }

        _started.TrySetResult(answer);
    }

    /// <summary>The chunk was cached by an earlier fetch: nothing was asked of the parent.</summary>
    public void FoundCached()
    {
        _started.TrySetResult(null);
        _checked.TrySetResult(true);
    }

    /// <summary>The chunk is checked (and cached, if <paramref name="cached"/>): readers may finish their answers.</summary>
    public void Check(bool cached) => _checked.TrySetResult(cached);

    /// <summary>The fetch failed: readers that have not begun get <paramref name="reason"/>, the others abandon their answers with it.</summary>
    public void Fail(Exception reason)
    {
        _started.TrySetException(reason);
        _checked.TrySetException(reason);
        _ = _started.Task.Exception; // observed: nobody may be waiting
        _ = _checked.Task.Exception;
        Volatile.Read(ref _answer)?.Fail(reason);
    }

    /// <summary>Gives up one share (the fetch's own once it has ended, or a reader's); the last one gives up the answer's buffer.</summary>
    public void Release()
    {
        StreamingAnswer? last = null;
        lock (_gate)
        {
            if (_shares == 0)
            {
                return;
            }

            if (--_shares == 0)
            {
                last = _answer;
                _answer = null;
            }
        }

        last?.Release();
    }

    /// <summary>
    /// One request's share of a fetch: the chunk's bytes (without the CHUNK header the parent sent)
    /// as they arrive, to send on (<see cref="IArrivingBody"/>). Disposing gives the share up.
    /// </summary>
    internal sealed class Reader(ChunkFetch fetch) : IArrivingBody, IDisposable
    {
        private int _disposed;

        public ChunkFetch Fetch => fetch;

        public int Length => fetch.Length;

        /// <summary>The chunk's bytes; valid after a wait returned (and all of them once checked) while this share is held.</summary>
        public ReadOnlyMemory<byte> Memory => Answer.Payload.Slice(ChunkMessage.HeaderSize, fetch.Length);

        private StreamingAnswer Answer => fetch._started.Task.IsCompletedSuccessfully && fetch._started.Task.Result is { } answer
            ? answer
            : throw new InvalidOperationException("The fetch has not begun streaming.");

        public async ValueTask<int> WaitAsync(int bytes, CancellationToken cancellationToken)
        {
            var answer = await fetch._started.Task.WaitAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("The chunk was cached before the fetch: read the store.");
            return await answer.WaitAsync(ChunkMessage.HeaderSize + bytes, cancellationToken).ConfigureAwait(false) - ChunkMessage.HeaderSize;
        }

        public async ValueTask WaitCheckedAsync(CancellationToken cancellationToken) =>
            await fetch._checked.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                fetch.Release();
            }
        }
    }
}
