using OmniStore.Content;

namespace OmniStore.Protocol;

/// <summary>
/// What a connection holds, and how it is bounded (docs/security.md, "Memory"): received message
/// buffers are charged from rent to dispose, to this connection and to the node's
/// <see cref="MemoryBudget"/>; answers being sent reserve their bytes first.
/// </summary>
internal sealed partial class PeerConnection : IMessageMemory
{
    /// <summary>The largest answer to anything but GET_CHUNK and GET_MANIFEST: a binding or an error.</summary>
    internal const int MaxSmallResponse = 16 * 1024;

    /// <summary>A send waiting this long for the peer to read counts its reserved bytes as the node's to reclaim first.</summary>
    private static readonly long StalledSendTicks = TimeSpan.FromSeconds(1).Ticks;

    private readonly ConnectionLimits _limits;
    private readonly object _memoryGate = new();
    private TaskCompletionSource _receiveReleased = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _receiveHeld;
    private long _unfinishedBytes;
    private long _sendHeld;
    private long _sendSince;
    private int _pongPending;
    private readonly LinkedList<(long Bytes, TaskCompletionSource Granted)> _sendWaiters = new();

    /// <summary>Bytes of received messages this connection holds (arriving, or waiting to be served).</summary>
    public long ReceiveHeld => Interlocked.Read(ref _receiveHeld);

    /// <summary>Bytes of messages still arriving (as of the last read).</summary>
    public long UnfinishedBytes => Volatile.Read(ref _unfinishedBytes);

    /// <summary>Bytes reserved by answers being sent.</summary>
    public long SendHeld => Interlocked.Read(ref _sendHeld);

    /// <summary>What the node's budget may reclaim by closing this connection: unfinished messages, and answers the peer does not read.</summary>
    internal long ReclaimableBytes
    {
        get
        {
            long since = Volatile.Read(ref _sendSince);
            bool stalled = since != 0 && DateTime.UtcNow.Ticks - since > StalledSendTicks;
            return UnfinishedBytes + (stalled ? SendHeld : 0);
        }
    }

    // Received buffers are rented and grown only while their message arrives (by the read loop),
    // so every charge is also unfinished until EndFrame or the message is dropped.
    void IMessageMemory.Charge(long bytes)
    {
        Interlocked.Add(ref _receiveHeld, bytes);
        Volatile.Write(ref _unfinishedBytes, _unfinishedBytes + bytes);
        _limits.Budget?.Charge(bytes);
    }

    /// <summary>A message left the assembling set (finished, cancelled or dropped): its bytes are no longer unfinished.</summary>
    private void Finished(Message message) => Volatile.Write(ref _unfinishedBytes, _unfinishedBytes - message.Capacity);

    /// <summary>
    /// After a frame added to an unfinished message: a peer whose unfinished messages alone pass the
    /// connection's limit is closed, since nothing it sent can be served to make room; when the node
    /// is over its budget, the connection holding the most it could give back is closed.
    /// </summary>
    private void CheckUnfinished()
    {
        if (_unfinishedBytes > _limits.MaxReceiveBytes)
        {
            throw new OmniStoreException(OmniStoreError.ProtocolError, $"more than {_limits.MaxReceiveBytes} bytes of unfinished messages");
        }

        if (_limits.Budget is { IsOver: true } budget && budget.TryShed())
        {
            ThrowIfClosed(); // this one may have been the one closed
        }
    }

    void IMessageMemory.Release(long bytes)
    {
        Interlocked.Add(ref _receiveHeld, -bytes);
        _limits.Budget?.Release(bytes);
        TaskCompletionSource released;
        lock (_memoryGate)
        {
            released = _receiveReleased;
            _receiveReleased = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        released.TrySetResult();
    }

    /// <summary>
    /// Reserves <paramref name="bytes"/> for an answer about to be read and sent, waiting (first come,
    /// first served) while this connection's answers hold <see cref="ConnectionLimits.MaxSendBytes"/>.
    /// One answer larger than the limit goes alone. Dispose the result once the answer is sent.
    /// </summary>
    public async ValueTask<SendReservation> ReserveSendAsync(long bytes, CancellationToken cancellationToken)
    {
        TaskCompletionSource? granted = null;
        LinkedListNode<(long, TaskCompletionSource)>? node = null;
        lock (_memoryGate)
        {
            if (_sendWaiters.Count == 0 && (_sendHeld == 0 || _sendHeld + bytes <= _limits.MaxSendBytes))
            {
                _sendHeld += bytes;
            }
            else
            {
                granted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                node = _sendWaiters.AddLast((bytes, granted));
            }
        }

        if (granted is not null)
        {
            try
            {
                using var closed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closed.Token);
                await granted.Task.WaitAsync(closed.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                lock (_memoryGate)
                {
                    if (node!.List is not null)
                    {
                        _sendWaiters.Remove(node);
                        granted = null; // never granted: nothing to give back
                    }
                }

                if (granted is not null)
                {
                    ReleaseSend(bytes); // granted while being cancelled
                }

                ThrowIfClosed();
                throw;
            }
        }

        _limits.Budget?.Charge(bytes);
        return new SendReservation(this, bytes);
    }

    internal void ReleaseSend(long bytes, bool charged = false)
    {
        if (charged)
        {
            _limits.Budget?.Release(bytes);
        }

        List<TaskCompletionSource>? grant = null;
        lock (_memoryGate)
        {
            _sendHeld -= bytes;
            while (_sendWaiters.First is { } first && (_sendHeld == 0 || _sendHeld + first.Value.Bytes <= _limits.MaxSendBytes))
            {
                _sendWaiters.RemoveFirst();
                _sendHeld += first.Value.Bytes;
                (grant ??= []).Add(first.Value.Granted);
            }
        }

        foreach (var waiter in grant ?? [])
        {
            waiter.TrySetResult();
        }
    }

    /// <summary>
    /// Before the next read: makes sure the peer's messages stay within this connection's limit and
    /// the node's budget. A peer whose unfinished messages alone pass the limit is closed; otherwise
    /// reading waits until requests are served (or, when the node is over its budget, until the
    /// connection holding the most unfinished bytes is closed or memory is released).
    /// </summary>
    private async ValueTask WaitForMemoryAsync()
    {
        var budget = _limits.Budget;
        if (ReceiveHeld <= _limits.MaxReceiveBytes && budget?.IsOver != true)
        {
            return;
        }

        var deadline = DateTime.UtcNow + _limits.MemoryWaitTimeout;
        while (true)
        {
            CheckUnfinished();
            bool overOwn = ReceiveHeld > _limits.MaxReceiveBytes;
            bool overNode = budget?.IsOver == true;
            if (!overOwn && !overNode)
            {
                return;
            }

            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new OmniStoreException(OmniStoreError.Unavailable, $"{Describe()} waited {_limits.MemoryWaitTimeout.TotalSeconds:0} s for memory ({(overOwn ? "its own requests were not served" : "the node is over its memory budget")}).");
            }

            Task released;
            lock (_memoryGate)
            {
                released = _receiveReleased.Task;
            }

            var wake = budget is null ? released : Task.WhenAny(released, budget.NextReleaseAsync());
            await Task.WhenAny(wake, Task.Delay(Min(remaining, TimeSpan.FromSeconds(1)), _closed.Token)).ConfigureAwait(false);
            _closed.Token.ThrowIfCancellationRequested();
        }

        static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
    }

    /// <summary>The longest answer this end accepts to a request of <paramref name="type"/> with head <paramref name="head"/>.</summary>
    private static int MaxResponseLength(FrameType type, ReadOnlySpan<byte> head) => type switch
    {
        FrameType.GetChunk or FrameType.GetCopy when head.Length >= ChunkId.Size + 4 =>
            Math.Max(MaxSmallResponse, ChunkMessage.HeaderSize + Math.Clamp(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(head[ChunkId.Size..]), 0, ChunkLayout.MaxChunkSize)),
        FrameType.GetManifest => ProtocolLimits.MaxMessage,
        FrameType.GetObject => ObjectMessages.MaxAnswerLength(head),
        FrameType.Verify => VerifyMessages.MaxResultSize,
        FrameType.List or FrameType.Wait => ListMessages.MaxListingSize,
        _ => MaxSmallResponse,
    };

    /// <summary>Watches this connection's sends: one that waits past <see cref="ConnectionLimits.SendTimeout"/> for the peer closes it.</summary>
    private async Task WatchSendsAsync()
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, Math.Min(TimeSpan.FromSeconds(1).Ticks, _limits.SendTimeout.Ticks / 4)));
        using var timer = new PeriodicTimer(period);

        // A send that waits is not a frozen peer while the transport sees the peer acknowledge
        // bytes: a flow that a shared bottleneck starves takes long over one batch, and reads.
        var progress = (_pipe as Transport.TransportConnection)?.GetFeature<Transport.ISendProgress>();
        long acknowledged = progress?.BytesAcknowledged ?? -1, progressAt = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(_closed.Token).ConfigureAwait(false))
            {
                long since = Volatile.Read(ref _sendSince);
                long now = DateTime.UtcNow.Ticks;
                if (since != 0 && progress?.BytesAcknowledged is long acked && acked != acknowledged)
                {
                    acknowledged = acked;
                    progressAt = now;
                }

                if (since != 0 && now - Math.Max(since, progressAt) > _limits.SendTimeout.Ticks)
                {
                    var reason = new OmniStoreException(OmniStoreError.Unavailable, $"{Describe()} read nothing for {_limits.SendTimeout.TotalSeconds:0} s: closed as frozen.");
                    ConnectionLog.ProtocolViolation(_logger, Describe(), reason.Message);
                    Close(reason);
                    await DisposeAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A reservation of send memory (see <see cref="ReserveSendAsync"/>); dispose once the answer is sent.</summary>
    internal readonly struct SendReservation(PeerConnection connection, long bytes) : IDisposable
    {
        public void Dispose() => connection?.ReleaseSend(bytes, charged: true);
    }
}
