using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using FASTER.core;
using OmniStore.Content;

namespace OmniStore.Storage.Internal;

/// <summary>Sizing of one <see cref="FasterTable"/>'s hybrid log.</summary>
/// <param name="PageSizeBits">log2 of the log's page size.</param>
/// <param name="MemorySize">Bytes of log kept in memory.</param>
/// <param name="SegmentSize">Bytes per log segment file.</param>
/// <param name="IndexSize">Bytes of hash index.</param>
/// <param name="MutableFraction">
/// The share of the in-memory log whose records may be updated in place. Pages leave it, and are
/// flushed, as the tail moves on; a table whose values never change uses a small fraction, so pages
/// are written to disk as soon as they are full and the writers never wait for a flush.
/// </param>
internal readonly record struct FasterTableSizing(int PageSizeBits, long MemorySize, long SegmentSize, long IndexSize, double MutableFraction = 0.9);

/// <summary>How hard a commit works to survive a machine crash (a process crash is always survived).</summary>
internal enum CommitDurability
{
    /// <summary>Fsync every file written since the last commit: the commit survives power loss.</summary>
    Fsync,

    /// <summary>Leave written pages to the OS: enough for a cache, whose every chunk is verified on read.</summary>
    OperatingSystem,
}

/// <summary>
/// One FASTER key-value store with byte keys and byte values, its log and checkpoints in one
/// directory. FASTER sessions are single-threaded, so operations rent one from a capped pool for
/// their whole duration (including an awaited disk read).
/// </summary>
internal sealed partial class FasterTable : IDisposable
{
    private const int MaxPooledSessions = 64;

    /// <summary>FASTER's per-record header (<c>RecordInfo</c>).</summary>
    private const int RecordHeaderSize = 8;

    private readonly PreallocatingFileDevice _device;
    private readonly FasterKV<SpanByte, SpanByte> _kv;
    private readonly StoreFunctions _functions = new();
    private readonly ConcurrentBag<ClientSession<SpanByte, SpanByte, ReadInput, ReadOutput, Empty, StoreFunctions>> _sessions = [];
    private int _disposed;
    private DateTime _lastSync = DateTime.MinValue;
    private readonly CommitDurability _durability;
    private readonly int _segmentBits;

    private readonly ConcurrentDictionary<byte[], ManualResetEventSlim> _writers = new(KeyComparer.Instance);

    /// <summary>
    /// Opens the table in <paramref name="directory"/>, recovering its last checkpoint after checking
    /// every file recovery reads against the table's commit record (see FasterTable.Recovery.cs).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Corrupt"/>, naming the damaged file, if a file is missing, cut short or altered.</exception>
    public FasterTable(string directory, FasterTableSizing sizing, CommitDurability durability, TableIntegrity integrity)
    {
        _durability = durability;
        _integrity = integrity;
        _pageBits = sizing.PageSizeBits;
        _segmentBits = System.Numerics.BitOperations.Log2((ulong)sizing.SegmentSize);
        DirectoryPath = directory;
        Directory.CreateDirectory(directory);
        string checkpointDirectory = Path.Combine(directory, "checkpoints");
        _checkpointDirectory = checkpointDirectory;

        // Before FASTER touches a file: what it would trust, checked (a damaged record header or hash
        // table crashes FASTER's recovery with an access violation, which no handler can catch).
        var plan = PlanRecovery();
        if (plan is { } planned)
        {
            ClearPastTheEnd(planned.Log.FinalAddress);
        }

        // Direct writes, buffered reads, space reserved ahead; see SyncToDisk for how commits stay durable.
        _device = new PreallocatingFileDevice(Path.Combine(directory, "log"));
        var settings = new FasterKVSettings<SpanByte, SpanByte>
        {
            LogDevice = _device,
            IndexSize = sizing.IndexSize,
            PageSize = 1L << sizing.PageSizeBits,
            MemorySize = sizing.MemorySize,
            SegmentSize = sizing.SegmentSize,
            MutableFraction = sizing.MutableFraction,
            CheckpointDir = checkpointDirectory,

            // Outdated checkpoints are removed once the commit record names their successor
            // (RecordCheckpoint), so the checkpoint the record names is always on disk.
            RemoveOutdatedCheckpoints = false,
        };
        _kv = new FasterKV<SpanByte, SpanByte>(settings);
        if (plan is { } recovery)
        {
            try
            {
                _kv.Recover(recovery.IndexToken, recovery.Log.Token);
                CheckRecovered(recovery);
                Recovered = true;
            }
            catch (Exception ex) when (ex is FasterException or IOException or InvalidDataException or OmniStoreException)
            {
                _kv.Dispose();
                _device.Dispose();
                throw ex as OmniStoreException ?? Damaged($"{integrity.Name}/checkpoints cannot be recovered: {ex.Message}", ex);
            }
        }
    }

    public string DirectoryPath { get; }

    /// <summary>Whether the table was opened from a checkpoint its commit record names (false: a new table).</summary>
    public bool Recovered { get; }

    public (long Direct, long Buffered) DeviceWrites => _device.WriteCounts;

    public bool WritesDirectly => _device.WritesDirectly(0);

    public FasterKV<SpanByte, SpanByte> Kv => _kv;

    /// <summary>log2 of the log's page size.</summary>
    public int PageSizeBits => _pageBits;

    /// <summary>Bytes of log between the begin and the tail: what the table holds, live or not.</summary>
    public long LogBytes => _kv.Log.TailAddress - _kv.Log.BeginAddress;

    /// <summary>Writes <paramref name="value"/> under <paramref name="key"/>; returns the new record's log address.</summary>
    public unsafe long Upsert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var turn = TakeTurn(key);
        var session = Rent();
        try
        {
            fixed (byte* k = key)
            fixed (byte* v = value)
            {
                var sk = SpanByte.FromPointer(k, key.Length);
                var sv = SpanByte.FromPointer(v, value.Length);
                ReadInput input = default;
                ReadOutput output = default;
                session.Upsert(ref sk, ref input, ref sv, ref output, out var metadata);
                return metadata.Address;
            }
        }
        finally
        {
            EndTurn(turn);
            Return(session);
        }
    }

    public unsafe void Delete(ReadOnlySpan<byte> key)
    {
        var turn = TakeTurn(key);
        var session = Rent();
        try
        {
            fixed (byte* k = key)
            {
                var sk = SpanByte.FromPointer(k, key.Length);
                session.Delete(ref sk);
            }
        }
        finally
        {
            EndTurn(turn);
            Return(session);
        }
    }

    /// <summary>
    /// Waits until no other write of <paramref name="key"/> is under way, then registers this one.
    /// Two sessions inserting the same key at once make FASTER 2.6.5 abandon the loser's allocation
    /// with its size written over the key's length (SaveAllocationForRetry); when the retry then
    /// updates the winner's record in place, the abandoned record stays in the log, and FASTER's
    /// own recovery and scans read that size as a key length and lose the rest of the page
    /// (docs/storage.md, "Writers of the same key"). So writers of one key take turns; writers of
    /// different keys never wait for each other.
    /// </summary>
    private (byte[] Key, ManualResetEventSlim Done) TakeTurn(ReadOnlySpan<byte> key)
    {
        var mine = (Key: key.ToArray(), Done: new ManualResetEventSlim(false));
        while (!_writers.TryAdd(mine.Key, mine.Done))
        {
            if (_writers.TryGetValue(mine.Key, out var other))
            {
                other.Wait();
            }
        }

        return mine;
    }

    private void EndTurn((byte[] Key, ManualResetEventSlim Done) turn)
    {
        _writers.TryRemove(KeyValuePair.Create(turn.Key, turn.Done));
        turn.Done.Set();
    }

    /// <summary>Keys compared by their bytes.</summary>
    private sealed class KeyComparer : IEqualityComparer<byte[]>
    {
        public static readonly KeyComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] key) => (int)XxHash3.Hash64(key);
    }

    /// <summary>
    /// Reads the value of <paramref name="key"/>; <c>Found</c> is false if there is none. <c>Address</c>
    /// is the log address of the record read, for <see cref="TryReadValue"/>.
    /// </summary>
    public async ValueTask<(bool Found, ReadOutput Output, long Address)> ReadAsync(ReadOnlyMemory<byte> key, ReadInput input, CancellationToken cancellationToken)
    {
        var session = Rent();
        try
        {
            var result = await StartRead(session, key.Span, input, cancellationToken).ConfigureAwait(false);
            var (status, output) = result.Complete(out var metadata);
            return (status.Found, output, metadata.Address);
        }
        finally
        {
            Return(session);
        }
    }

    /// <summary>Reads the value of <paramref name="key"/> synchronously, blocking on a disk read if need be; see <see cref="ReadAsync"/>.</summary>
    public unsafe (bool Found, ReadOutput Output, long Address) Read(ReadOnlySpan<byte> key, ReadInput input)
    {
        var session = Rent();
        try
        {
            ReadOutput output = default;
            Status status;
            RecordMetadata metadata;
            fixed (byte* k = key)
            {
                var sk = SpanByte.FromPointer(k, key.Length);
                var options = default(ReadOptions);
                status = session.Read(ref sk, ref input, ref output, ref options, out metadata);
            }

            if (status.IsPending)
            {
                session.CompletePendingWithOutputs(out var outputs, wait: true);
                using (outputs)
                {
                    while (outputs.Next())
                    {
                        status = outputs.Current.Status;
                        output = outputs.Current.Output;
                        metadata = outputs.Current.RecordMetadata;
                    }
                }
            }

            return (status.Found, output, metadata.Address);
        }
        finally
        {
            Return(session);
        }
    }

    /// <summary>Whether the record at <paramref name="address"/> is in FASTER's in-memory part of the log.</summary>
    public bool IsInMemory(long address) => address >= _kv.Log.HeadAddress;

    /// <summary>
    /// Reads the value of the record at log address <paramref name="address"/> straight from the log
    /// file into <paramref name="destination"/>, bypassing FASTER's read path (its I/O buffer, the
    /// copy out of it and its completion hops). Only for a record that is on disk (below the head
    /// address, so flushed and no longer in memory) and still in the log (at or above the begin
    /// address), whose key is <paramref name="key"/> and whose value has exactly
    /// <paramref name="destination"/>'s length; anything else, or an I/O failure, returns false and
    /// the caller reads through FASTER.
    /// </summary>
    /// <remarks>
    /// The record layout is FASTER's for byte keys and values: an 8-byte record header, the key as a
    /// 4-byte length and its bytes padded to 8, then the value as a 4-byte length and its bytes. The
    /// key and length checks catch an address that no longer holds this record; the caller still
    /// verifies the value (a chunk against its id), since content read from disk is never trusted.
    /// </remarks>
    public bool TryReadValue(long address, ReadOnlySpan<byte> key, Memory<byte> destination) =>
        TryReadRecord(address, key, destination.Length, destination);

    /// <summary>Whether the record at <paramref name="address"/> is on disk and holds <paramref name="key"/> with a value of <paramref name="length"/> bytes; reads only its header.</summary>
    public bool TryReadValueHeader(long address, ReadOnlySpan<byte> key, int length) =>
        TryReadRecord(address, key, length, Memory<byte>.Empty);

    private bool TryReadRecord(long address, ReadOnlySpan<byte> key, int valueLength, Memory<byte> destination)
    {
        var log = _kv.Log;
        if (address < log.BeginAddress || address >= log.HeadAddress)
        {
            return false;
        }

        int valueAt = RecordHeaderSize + ((sizeof(int) + key.Length + 7) & ~7);
        int headerLength = valueAt + sizeof(int);
        var header = ArrayPool<byte>.Shared.Rent(headerLength);
        try
        {
            int segment = (int)(address >> _segmentBits);
            long offset = address & ((1L << _segmentBits) - 1);
            var buffers = destination.IsEmpty
                ? new[] { header.AsMemory(0, headerLength) }
                : new[] { header.AsMemory(0, headerLength), destination };
            if (!_device.TryRead(segment, offset, buffers, headerLength + destination.Length))
            {
                return false;
            }

            var head = header.AsSpan(0, headerLength);
            return BinaryPrimitives.ReadInt32LittleEndian(head[RecordHeaderSize..]) == key.Length
                && head.Slice(RecordHeaderSize + sizeof(int), key.Length).SequenceEqual(key)
                && BinaryPrimitives.ReadInt32LittleEndian(head[valueAt..]) == valueLength;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(header);
        }
    }

    /// <summary>
    /// Moves the records of [begin, <paramref name="untilAddress"/>) that <paramref name="policy"/>
    /// keeps to the tail and shifts the begin address past the rest; the disk space is released at
    /// the next checkpoint.
    /// </summary>
    public long Compact<TPolicy>(long untilAddress, TPolicy policy)
        where TPolicy : ICompactionFunctions<SpanByte, SpanByte>
    {
        var session = Rent();
        try
        {
            return session.Compact(untilAddress, CompactionType.Lookup, policy);
        }
        finally
        {
            Return(session);
        }
    }

    /// <summary>
    /// Reads up to <paramref name="length"/> bytes of the log from <paramref name="address"/> (not past
    /// the end of its segment) from the segment file into the operating system's page cache, where
    /// FASTER's reads of the same range then find them: a compaction reads its pages ahead this way,
    /// a piece at a time, so that the disk time it takes can yield between pieces. Returns the bytes
    /// covered (0 past the end of the file or when the segment is gone).
    /// </summary>
    internal int ReadAhead(long address, int length, Span<byte> scratch)
    {
        long segmentSize = 1L << _segmentBits;
        long offset = address & (segmentSize - 1);
        int count = (int)Math.Min(Math.Min(length, scratch.Length), segmentSize - offset);
        string path = Path.Combine(DirectoryPath, $"log.{address >> _segmentBits}");
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            int total = 0;
            while (total < count)
            {
                int read = RandomAccess.Read(handle, scratch[total..count], offset + total);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }

            return total;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return 0; // truncated meanwhile: nothing to read ahead
        }
    }

    /// <summary>Writes every page of the log to disk and drops them from memory (tests: records then live only on disk).</summary>
    internal void EvictFromMemory() => _kv.Log.FlushAndEvict(wait: true);

    /// <summary>
    /// Takes a fold-over checkpoint (with the hash index when <paramref name="withIndex"/>), makes it
    /// durable as the table's durability asks, and records what it holds in the commit record.
    /// </summary>
    public async ValueTask CheckpointAsync(bool withIndex, CancellationToken cancellationToken)
    {
        var (success, token) = withIndex
            ? await _kv.TakeFullCheckpointAsync(CheckpointType.FoldOver, cancellationToken).ConfigureAwait(false)
            : await _kv.TakeHybridLogCheckpointAsync(CheckpointType.FoldOver, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!success)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The checkpoint of '{DirectoryPath}' did not complete.");
        }

        if (_durability == CommitDurability.Fsync)
        {
            SyncToDisk(token);
        }

        RecordCheckpoint(token, withIndex);
    }

    /// <summary>
    /// Direct writes may still sit in the disk's volatile cache, and checkpoint files and unaligned
    /// log writes go through the page cache, so a checkpoint is made durable here: every log and
    /// checkpoint file written since the previous sync is fsynced before the commit is acknowledged.
    /// </summary>
    private void SyncToDisk(Guid token)
    {
        var now = DateTime.UtcNow;
        foreach (var path in System.IO.Directory.EnumerateFiles(DirectoryPath, "*", SearchOption.AllDirectories))
        {
            try
            {
                // The commit record is made durable when written, after everything it names; the files
                // of other checkpoints than this one are of the previous commit, already durable.
                if (File.GetLastWriteTimeUtc(path) < _lastSync
                    || Path.GetFileName(path).StartsWith(CommitRecord.FileName, StringComparison.Ordinal)
                    || (Guid.TryParseExact(Path.GetFileName(Path.GetDirectoryName(path)), "D", out var checkpoint) && checkpoint != token))
                {
                    continue;
                }

                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
                RandomAccess.FlushToDisk(handle);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                // Removed by FASTER (an outdated checkpoint or a truncated segment) while we looked.
            }
        }

        // The checkpoint's directories are new: their entries must be durable too before the commit
        // record names them.
        foreach (string kind in new[] { FasterCheckpointFiles.LogCheckpoints, FasterCheckpointFiles.IndexCheckpoints })
        {
            string directory = FasterCheckpointFiles.DirectoryOf(_checkpointDirectory, kind, token);
            if (System.IO.Directory.Exists(directory))
            {
                DurableFile.SyncDirectory(directory);
                DurableFile.SyncDirectory(Path.GetDirectoryName(directory)!);
            }
        }

        // Timestamps have coarse granularity: keep a margin so a file written just before "now" is seen next time too.
        _lastSync = now - TimeSpan.FromSeconds(2);
    }

    private static unsafe ValueTask<FasterKV<SpanByte, SpanByte>.ReadAsyncResult<ReadInput, ReadOutput, Empty>> StartRead(
        ClientSession<SpanByte, SpanByte, ReadInput, ReadOutput, Empty, StoreFunctions> session,
        ReadOnlySpan<byte> key,
        ReadInput input,
        CancellationToken cancellationToken)
    {
        // FASTER copies the key into its pending context before the read goes to disk, so pinning
        // it only for the duration of this call is enough.
        fixed (byte* k = key)
        {
            var sk = SpanByte.FromPointer(k, key.Length);
            return session.ReadAsync(ref sk, ref input, Empty.Default, 0, cancellationToken);
        }
    }

    private ClientSession<SpanByte, SpanByte, ReadInput, ReadOutput, Empty, StoreFunctions> Rent()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _sessions.TryTake(out var session) ? session : _kv.For(_functions).NewSession<StoreFunctions>();
    }

    private void Return(ClientSession<SpanByte, SpanByte, ReadInput, ReadOutput, Empty, StoreFunctions> session)
    {
        if (Volatile.Read(ref _disposed) != 0 || _sessions.Count >= MaxPooledSessions)
        {
            session.Dispose();
            return;
        }

        _sessions.Add(session);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        while (_sessions.TryTake(out var session))
        {
            session.Dispose();
        }

        _kv.Dispose();
        _device.Dispose();
    }
}
