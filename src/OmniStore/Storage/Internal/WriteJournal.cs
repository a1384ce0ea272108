using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using OmniStore.Content;

namespace OmniStore.Storage.Internal;

/// <summary>
/// A pinned store's journal of small durable writes: a Put of a small object (its binding, manifest
/// and chunk bytes in one record) or a Delete is acknowledged once its record is on disk, with one
/// <c>fdatasync</c> for every record appended meanwhile (group commit), instead of once two FASTER
/// checkpoints completed. Records are replayed when the store opens after a crash; a commit starts a
/// new file and drops the older ones once its checkpoints hold everything they held. See
/// docs/storage.md, "The journal".
/// </summary>
/// <remarks>
/// A record on disk: magic (4 bytes, "OSJR"), payload length (4), XXH3-64 of the payload (8), the
/// payload. Nothing is acknowledged before the <c>fdatasync</c> that covers it, so an invalid record
/// at a file's end is a write cut short by a crash and never acknowledged; one followed by a valid
/// record is damage.
/// </remarks>
internal sealed partial class WriteJournal : IDisposable
{
    public const string FilePrefix = "journal.";
    public const int HeaderSize = 16;
    private const uint Magic = 0x524A534F; // "OSJR", little-endian

    private readonly string _directory;
    private readonly Lock _lock = new();
    private SafeFileHandle _file;
    private long _generation;
    private long _length;
    private List<TaskCompletionSource> _waiting = [];
    private bool _syncing;
    private bool _disposed;
    private long _syncs;

    /// <summary>Starts a new journal file, numbered after every file already in <paramref name="directory"/>.</summary>
    public WriteJournal(string directory)
    {
        _directory = directory;
        _generation = ListFiles(directory).Select(f => f.Generation + 1).DefaultIfEmpty(1).Max();
        _file = Create(directory, _generation);
    }

    /// <summary>The number of the file records are appended to now.</summary>
    public long Generation
    {
        get
        {
            lock (_lock)
            {
                return _generation;
            }
        }
    }

    /// <summary>Bytes appended to the current file.</summary>
    public long Length => Interlocked.Read(ref _length);

    /// <summary>The <c>fdatasync</c> calls made (each covers every record appended before it).</summary>
    public long Syncs => Interlocked.Read(ref _syncs);

    /// <summary>The journal files in <paramref name="directory"/>, oldest first.</summary>
    public static List<(long Generation, string Path)> ListFiles(string directory) =>
        [.. Directory.EnumerateFiles(directory, FilePrefix + "*")
            .Select(path => (Ok: long.TryParse(Path.GetFileName(path).AsSpan(FilePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long g), Generation: g, Path: path))
            .Where(f => f.Ok && f.Generation > 0)
            .Select(f => (f.Generation, f.Path))
            .OrderBy(f => f.Generation)];

    /// <summary>Appends a record; the task completes once it is on disk.</summary>
    public Task AppendAsync(ReadOnlySpan<byte> payload)
    {
        var record = new byte[HeaderSize + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(record, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(4), payload.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(8), XxHash3.Hash64(payload));
        payload.CopyTo(record.AsSpan(HeaderSize));

        // Completed for a whole group by one thread-pool work item (see Complete), which runs the
        // writers' continuations: one hand-off per group instead of one per write.
        var done = new TaskCompletionSource();
        bool start;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            RandomAccess.Write(_file, record, _length);
            Interlocked.Add(ref _length, record.Length);
            _waiting.Add(done);
            start = !_syncing;
            _syncing = true;
        }

        if (start)
        {
            _ = Task.Run(SyncLoop, CancellationToken.None);
        }

        return done.Task;
    }

    /// <summary>
    /// Makes the current file durable and starts the next one; returns its number. Every record
    /// appended before the call is in an older file: a commit that began after this holds them all
    /// once it completes, and <see cref="DropBefore"/> then removes those files.
    /// </summary>
    public long Rotate()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_length == 0)
            {
                return _generation; // nothing in the current file: it serves as the next one
            }

            // Everything in the old file is on disk before any record goes to the new one, so the
            // sync loop's next fdatasync (of the new file) completes old waiters truthfully.
            Sync(_file);
            _file.Dispose();
            _generation++;
            _file = Create(_directory, _generation);
            Interlocked.Exchange(ref _length, 0);
            return _generation;
        }
    }

    /// <summary>Removes the files older than <paramref name="generation"/>.</summary>
    public void DropBefore(long generation)
    {
        foreach (var (g, path) in ListFiles(_directory))
        {
            if (g < generation)
            {
                TryDelete(path);
            }
        }
    }

    /// <summary>Closes the journal; removes its current file when it holds nothing and <paramref name="removeIfEmpty"/>.</summary>
    public void Close(bool removeIfEmpty)
    {
        string? empty = null;
        List<TaskCompletionSource> waiting;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _file.Dispose();
            if (removeIfEmpty && _length == 0)
            {
                empty = FilePath(_directory, _generation);
            }

            waiting = _waiting;
            _waiting = [];
        }

        if (waiting.Count > 0)
        {
            Complete(waiting, new OmniStoreException(OmniStoreError.Unavailable, "The store was closed before the write reached the disk."));
        }

        if (empty is not null)
        {
            TryDelete(empty);
        }
    }

    public void Dispose() => Close(removeIfEmpty: false);

    private void SyncLoop()
    {
        while (true)
        {
            List<TaskCompletionSource> batch;
            SafeFileHandle file;
            lock (_lock)
            {
                batch = _waiting;
                if (batch.Count == 0 || _disposed)
                {
                    _syncing = false;
                    return;
                }

                _waiting = [];
                file = _file;
            }

            try
            {
                // The handle stays open: Rotate and Close take the lock, which this does not hold,
                // but both sync or fail the waiters themselves; a disposed handle throws here.
                Sync(file);
                Interlocked.Increment(ref _syncs);
                Complete(batch, null);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // Rotated meanwhile: the old file was synced by Rotate, with these records in it.
                bool rotated;
                lock (_lock)
                {
                    rotated = !_disposed && !ReferenceEquals(file, _file);
                }

                Complete(batch, rotated ? null : new OmniStoreException(OmniStoreError.Unavailable, $"The journal of the store in '{_directory}' could not be written to disk: {ex.Message}", ex));
            }
        }
    }

    /// <summary>
    /// Completes a group's writers on a thread-pool thread, never on the sync loop's: their
    /// continuations run there, and one that blocks on a later write (a synchronous Put after an
    /// awaited one) would otherwise stop the very loop that syncs it.
    /// </summary>
    private static void Complete(List<TaskCompletionSource> batch, Exception? failure) =>
        ThreadPool.UnsafeQueueUserWorkItem(
            static state =>
            {
                foreach (var waiter in state.Batch)
                {
                    if (state.Failure is null)
                    {
                        waiter.TrySetResult();
                    }
                    else
                    {
                        waiter.TrySetException(state.Failure);
                    }
                }
            },
            (Batch: batch, Failure: failure),
            preferLocal: false);

    private static SafeFileHandle Create(string directory, long generation)
    {
        var handle = File.OpenHandle(FilePath(directory, generation), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        DurableFile.SyncDirectory(directory); // the new file's name is on disk before any record in it counts
        return handle;
    }

    private static string FilePath(string directory, long generation) =>
        Path.Combine(directory, FilePrefix + generation.ToString(CultureInfo.InvariantCulture));

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Replaying an old record again is harmless (its binding is older than the checkpoint's).
        }
    }

    private static void Sync(SafeFileHandle file)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(file);
            return;
        }

        if (Fdatasync(file) != 0)
        {
            throw new IOException($"fdatasync failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int Fdatasync(SafeFileHandle fd);

    // ---- reading, when the store opens ----

    /// <summary>
    /// The records of one journal file, in order. Stops at a record cut short by a crash (invalid,
    /// with nothing valid after it); throws <see cref="OmniStoreError.Corrupt"/> for an invalid
    /// record followed by a valid one (damage, with acknowledged writes after it).
    /// </summary>
    public static List<byte[]> ReadRecords(string path, int maxPayload)
    {
        var bytes = File.ReadAllBytes(path);
        var records = new List<byte[]>();
        int at = 0;
        while (at < bytes.Length)
        {
            if (TryRecordAt(bytes, at, maxPayload) is not { } length)
            {
                for (int later = at + 1; later + HeaderSize <= bytes.Length; later++)
                {
                    if (TryRecordAt(bytes, later, maxPayload) is not null)
                    {
                        throw new OmniStoreException(OmniStoreError.Corrupt, $"journal file {Path.GetFileName(path)} holds a damaged record at byte {at}, followed by a valid one at byte {later}");
                    }
                }

                break; // the end of the file, cut short by a crash: never acknowledged
            }

            records.Add(bytes.AsSpan(at + HeaderSize, length).ToArray());
            at += HeaderSize + length;
        }

        return records;
    }

    private static int? TryRecordAt(byte[] bytes, int at, int maxPayload)
    {
        if (bytes.Length - at < HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)) != Magic)
        {
            return null;
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at + 4));
        if (length < 0 || length > maxPayload || length > bytes.Length - at - HeaderSize)
        {
            return null;
        }

        return XxHash3.Hash64(bytes.AsSpan(at + HeaderSize, length)) == BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at + 8)) ? length : null;
    }
}
