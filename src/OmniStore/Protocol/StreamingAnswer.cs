using System.Buffers;
using System.Runtime.ExceptionServices;

namespace OmniStore.Protocol;

/// <summary>
/// An answer read while it arrives (<see cref="PeerConnection.RequestStreamingAsync"/>): one buffer of
/// the length the requester asked for, filled frame by frame by the connection's read loop, which
/// readers slice up to <see cref="Received"/> while the rest arrives (docs/architecture.md,
/// "Cut-through on a miss").
/// </summary>
/// <remarks>
/// The buffer is rented when the first frame arrives, at <see cref="Length"/> (what this end asked
/// for, never what the peer announces), and never grows or moves, so a reader's slice stays valid
/// while it holds a share. Shares: the requester's (given with the answer), the connection's (taken
/// with the buffer, given up by the read loop once no frame can land in it any more) and any taken
/// with <see cref="TryShare"/>; the last one returns the buffer to its pool and the bytes it held
/// to the connection's memory account.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The buffer is shared: the last share given up (Release) disposes it, not the answer's owner.")]
internal sealed class StreamingAnswer
{
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<(int Bytes, TaskCompletionSource<int> Ready)>? _waiters;
    private Message? _message;
    private Exception? _failure;
    private int _received;
    private int _shares = 1;

    /// <summary>An answer of <paramref name="type"/> of exactly <paramref name="length"/> payload bytes.</summary>
    public StreamingAnswer(FrameType type, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, ProtocolLimits.MaxMessage);
        Type = type;
        Length = length;
    }

    /// <summary>The type of the answer's frames; an answer of another type (an ERROR) fails it.</summary>
    public FrameType Type { get; }

    /// <summary>The payload length asked for: the answer must carry exactly this many bytes.</summary>
    public int Length { get; }

    /// <summary>Payload bytes arrived so far (the first <see cref="Received"/> bytes of <see cref="Payload"/> are valid).</summary>
    public int Received => Volatile.Read(ref _received);

    /// <summary>Completes once all <see cref="Length"/> bytes arrived with the last frame; faults when the answer failed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Whether the answer is complete or failed: no frame is taken into it any more.</summary>
    public bool IsFinished => _completion.Task.IsCompleted;

    /// <summary>
    /// The whole buffer, <see cref="Length"/> bytes, of which the first <see cref="Received"/> hold
    /// the answer; valid while the caller holds a share, once a wait has seen a byte.
    /// </summary>
    public ReadOnlyMemory<byte> Payload => (Volatile.Read(ref _message) ?? throw new InvalidOperationException("No byte of the answer has arrived.")).Buffer.AsMemory(0, Length);

    /// <summary>The received message that owns the buffer, for the connection's accounting; null before the first frame.</summary>
    internal Message? Message => Volatile.Read(ref _message);

    /// <summary>
    /// Waits until at least <paramref name="bytes"/> payload bytes have arrived and returns how many
    /// have; throws what the answer failed with (an ERROR from the peer, the connection closing, a
    /// protocol violation), even if the bytes asked for are there.
    /// </summary>
    public async ValueTask<int> WaitAsync(int bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, Length);
        TaskCompletionSource<int> ready;
        lock (_gate)
        {
            if (_failure is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }

            if (_received >= bytes)
            {
                return _received;
            }

            ready = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            (_waiters ??= []).Add((bytes, ready));
        }

        try
        {
            return await ready.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            lock (_gate)
            {
                _waiters?.Remove((bytes, ready));
            }

            throw;
        }
    }

    /// <summary>Takes one more share of the buffer; false once every share was given up (the buffer is gone).</summary>
    public bool TryShare()
    {
        lock (_gate)
        {
            if (_shares == 0)
            {
                return false;
            }

            _shares++;
            return true;
        }
    }

    /// <summary>Gives up one share: the last one returns the buffer. More calls than shares are a bug, and ignored.</summary>
    public void Release()
    {
        Message? last = null;
        lock (_gate)
        {
            if (_shares == 0)
            {
                return;
            }

            if (--_shares == 0)
            {
                last = _message;
                _message = null;
            }
        }

        last?.Dispose();
    }

    /// <summary>
    /// Fails the answer (once; false if it had already ended): every waiter, now and later, gets
    /// <paramref name="reason"/>, and the connection drops the rest of its frames.
    /// </summary>
    public bool Fail(Exception reason)
    {
        List<(int Bytes, TaskCompletionSource<int> Ready)>? waiters;
        lock (_gate)
        {
            if (_completion.Task.IsCompleted)
            {
                return false;
            }

            _failure = reason;
            waiters = _waiters;
            _waiters = null;
            _completion.SetException(reason);
        }

        _ = _completion.Task.Exception; // observed: nobody may be waiting
        foreach (var (_, ready) in waiters ?? [])
        {
            ready.TrySetException(reason);
        }

        return true;
    }

    /// <summary>
    /// Read loop: rents the buffer as the first frame arrives, charged to <paramref name="memory"/>,
    /// and takes the connection's share. False when nobody holds a share any more: the frame is dropped.
    /// </summary>
    internal bool Begin(IMessageMemory memory, uint stream)
    {
        lock (_gate)
        {
            if (_shares == 0 || _completion.Task.IsCompleted)
            {
                return false;
            }

            _message = new Message(Type, stream, ArrayPool<byte>.Shared.Rent(Length), 0, memory);
            _shares++;
            return true;
        }
    }

    /// <summary>Read loop: where the next <paramref name="length"/> bytes go (checked against <see cref="Length"/> by the caller).</summary>
    internal Memory<byte> Space(int length) => _message!.Buffer.AsMemory(_received, length);

    /// <summary>Read loop: <paramref name="length"/> more bytes are in the buffer; wakes the readers they satisfy.</summary>
    internal void Publish(int length)
    {
        List<TaskCompletionSource<int>>? ready = null;
        int received;
        lock (_gate)
        {
            received = _received + length;
            Volatile.Write(ref _received, received);
            if (_waiters is { } waiters)
            {
                for (int i = waiters.Count - 1; i >= 0; i--)
                {
                    if (waiters[i].Bytes <= received)
                    {
                        (ready ??= []).Add(waiters[i].Ready);
                        waiters.RemoveAt(i);
                    }
                }
            }
        }

        foreach (var waiter in ready ?? [])
        {
            waiter.TrySetResult(received);
        }
    }

    /// <summary>Read loop: the last frame arrived with all <see cref="Length"/> bytes.</summary>
    internal void Complete()
    {
        // Every waiter asked for at most Length bytes, so the last Publish woke them all.
        lock (_gate)
        {
            _completion.TrySetResult();
        }
    }
}
