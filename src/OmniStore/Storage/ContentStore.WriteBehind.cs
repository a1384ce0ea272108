using System.Collections.Concurrent;
using OmniStore.Content;
using OmniStore.Internal;
using OmniStore.Storage.Internal;

namespace OmniStore.Storage;

/// <summary>
/// Chunks written behind: a cache store takes a verified chunk from a relay's upstream fetch and
/// writes it on a thread of its own, so that forwarding the chunk to the children waiting for it
/// never waits for the log (docs/storage.md, "Writing behind"). Until written, a chunk is found by
/// reads and by <see cref="ContainsChunkAsync"/> as if it were stored. At most
/// <see cref="WriteBehindLimit"/> bytes wait; past that the caller writes itself, which is the
/// back-pressure that keeps a fetch from outrunning the disk.
/// </summary>
internal sealed partial class ContentStore
{
    /// <summary>Bytes of chunks that may wait to be written: one log page of the default chunk limit, what the disk writes while the next one fills.</summary>
    internal const long WriteBehindLimit = 32L << 20;

    private readonly ConcurrentDictionary<ChunkId, PendingChunk> _pending = new();
    private readonly BlockingCollection<PendingChunk> _pendingQueue = new();
    private readonly Lock _writerGate = new();
    private Thread? _writer;
    private long _pendingBytes;
    private long _writtenBehind;
    private readonly ReleaseSignal _room = new();

    /// <summary>Bytes of chunks taken to be written behind and not written yet.</summary>
    internal long PendingChunkBytes => Interlocked.Read(ref _pendingBytes);

    /// <summary>Chunks written behind since the store opened.</summary>
    internal long ChunksWrittenBehind => Interlocked.Read(ref _writtenBehind);

    /// <summary>
    /// Takes chunk <paramref name="id"/> (verified by the caller) to be written on the store's
    /// writer thread, which disposes <paramref name="owner"/> (what keeps <paramref name="data"/>
    /// valid) once it is written or given up. Returns false, taking nothing, when the bytes already
    /// waiting reach <see cref="WriteBehindLimit"/>, when the chunk is stored or waiting already, or
    /// when the store is closing: the caller then writes it (<see cref="WriteChunk"/>) or drops it.
    /// Only a cache store writes behind: a pinned store's Put must have its chunks in the log that
    /// its commit makes durable.
    /// </summary>
    public bool TryWriteChunkLater(ChunkId id, ReadOnlyMemory<byte> data, IDisposable owner)
    {
        if (_options.Mode != StoreMode.Cache)
        {
            throw new InvalidOperationException("Only a cache store writes chunks behind.");
        }

        if (data.Length > _options.MaxChunkSize || Volatile.Read(ref _disposed) != 0)
        {
            return false;
        }

        // Reserved only if it fits (never counted over the limit, even for a moment); one chunk
        // always fits, however large: a store with nothing waiting takes it.
        long waiting = Interlocked.Read(ref _pendingBytes);
        while (true)
        {
            if (waiting > 0 && waiting + data.Length > WriteBehindLimit)
            {
                return false;
            }

            long seen = Interlocked.CompareExchange(ref _pendingBytes, waiting + data.Length, waiting);
            if (seen == waiting)
            {
                break;
            }

            waiting = seen;
        }

        var pending = new PendingChunk(id, data, owner);
        if (!_pending.TryAdd(id, pending))
        {
            Interlocked.Add(ref _pendingBytes, -data.Length);
            return false;
        }

        EnsureWriter();
        try
        {
            _pendingQueue.Add(pending);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            // Closing: the writer takes no more.
            _pending.TryRemove(new KeyValuePair<ChunkId, PendingChunk>(id, pending));
            Interlocked.Add(ref _pendingBytes, -data.Length);
            return false;
        }

        return true;
    }

    /// <summary>
    /// As <see cref="TryWriteChunkLater"/>, but waits while <see cref="WriteBehindLimit"/> bytes
    /// wait already, instead of refusing: the caller's fetch is held back to the disk's pace and
    /// only the store's writer thread ever writes fetched chunks (writers that wrote themselves
    /// when the queue was full all spun in FASTER's wait for log memory at once). Returns false,
    /// taking nothing, when the chunk is stored or waiting already or the store is closing.
    /// </summary>
    public async ValueTask<bool> WriteChunkBehindAsync(ChunkId id, ReadOnlyMemory<byte> data, IDisposable owner, CancellationToken cancellationToken)
    {
        while (true)
        {
            var room = _room.Next;

            if (TryWriteChunkLater(id, data, owner))
            {
                return true;
            }

            if (Volatile.Read(ref _disposed) != 0 || _pending.ContainsKey(id) || data.Length > _options.MaxChunkSize)
            {
                return false;
            }

            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Copies a chunk waiting to be written into <paramref name="destination"/>; null when none waits.</summary>
    private ChunkReadResult? TryReadPending(ChunkId id, Memory<byte> destination)
    {
        if (!_pending.TryGetValue(id, out var pending))
        {
            return null;
        }

        int length = pending.TryCopyTo(destination);
        return length < 0 ? null : Found(id, length); // written meanwhile: the log has it
    }

    private void EnsureWriter()
    {
        if (Volatile.Read(ref _writer) is not null)
        {
            return;
        }

        lock (_writerGate)
        {
            if (_writer is null)
            {
                var writer = new Thread(WriteBehindLoop) { IsBackground = true, Name = "OmniStore write-behind" };
                writer.Start();
                Volatile.Write(ref _writer, writer);
            }
        }
    }

    private void WriteBehindLoop()
    {
        foreach (var pending in _pendingQueue.GetConsumingEnumerable())
        {
            try
            {
                if (Volatile.Read(ref _disposed) == 0)
                {
                    WriteChunkNow(pending.Id, pending.Data.Span);
                    Interlocked.Increment(ref _writtenBehind);
                }
            }
            catch (Exception ex) when (ex is OmniStoreException or ObjectDisposedException)
            {
                // A cache is best effort (full of chunks being read, or closing): a later request
                // for the chunk fetches it again.
                StoreLog.WriteBehindFailed(_logger, pending.Id, ex.Message);
            }
            finally
            {
                _pending.TryRemove(new KeyValuePair<ChunkId, PendingChunk>(pending.Id, pending));
                Interlocked.Add(ref _pendingBytes, -pending.Data.Length);
                pending.Release();
                _room.Pulse();
            }
        }
    }

    /// <summary>Writes what waits and stops the writer: called when the store closes, before its last commit.</summary>
    private void StopWriteBehind()
    {
        _pendingQueue.CompleteAdding();
        Thread? writer;
        lock (_writerGate)
        {
            writer = _writer;
        }

        writer?.Join();
        _pendingQueue.Dispose();
        _room.Pulse(); // fetches waiting for room find the store closing
    }

    /// <summary>A chunk waiting to be written: its bytes stay valid until it is released, which waits for copies under way.</summary>
    private sealed class PendingChunk(ChunkId id, ReadOnlyMemory<byte> data, IDisposable owner)
    {
        private readonly Lock _gate = new();
        private bool _released;

        public ChunkId Id { get; } = id;

        public ReadOnlyMemory<byte> Data { get; } = data;

        /// <summary>Copies the chunk; returns its length, or -1 once it was released (it is in the log then).</summary>
        public int TryCopyTo(Memory<byte> destination)
        {
            lock (_gate)
            {
                if (_released)
                {
                    return -1;
                }

                if (destination.Length < Data.Length)
                {
                    throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Chunk {Id} has {Data.Length} bytes; {destination.Length} were expected.");
                }

                Data.Span.CopyTo(destination.Span);
                return Data.Length;
            }
        }

        public void Release()
        {
            lock (_gate)
            {
                _released = true;
                owner.Dispose();
            }
        }
    }
}
