using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using FASTER.core;
using Microsoft.Win32.SafeHandles;
using OmniStore.Internal;

namespace OmniStore.Storage.Internal;

/// <summary>
/// A FASTER log device over plain segment files. It reserves disk space ahead of the writes, in
/// steps that grow with the segment up to <see cref="AllocationStep"/>, with <c>fallocate</c>, and writes with <c>O_DIRECT</c>
/// where the file system allows it, straight from FASTER's page buffers (which FASTER aligns to
/// <see cref="DirectAlignment"/>) to the disk. Reads go through the page cache, which keeps the hot
/// chunks in memory. <see cref="FasterTable"/> fsyncs at commits.
/// </summary>
/// <remarks>
/// Why direct writes: a buffered write of data never seen before copies it into newly allocated
/// page-cache pages, and on virtual machines whose freed memory goes back to the host every such
/// page costs a host page fault: we measured 0.33 GB/s for buffered writes of new files against
/// 1.4 GB/s direct, and a relay writes every chunk it receives (docs/performance.md). A log is
/// written once and read later, if at all, so the page cache gains little from holding the writes.
/// A write that is not aligned for <c>O_DIRECT</c>, or a file system that refuses it, falls back to
/// the buffered handle; the kernel keeps the two views of the file coherent.
/// </remarks>
internal sealed partial class PreallocatingFileDevice : StorageDeviceBase
{
    /// <summary>How far ahead of the writes a segment's space is reserved.</summary>
    public const long AllocationStep = 64L << 20;

    /// <summary>
    /// The first reservation of a segment: steps double with what the segment holds, from this up
    /// to <see cref="AllocationStep"/>, so a store holding a few bytes takes a few MiB, not 64.
    /// </summary>
    public const long MinimumAllocationStep = 1L << 20;

    /// <summary>
    /// The sector size announced to FASTER, which aligns its page buffers, flush ranges and reads to
    /// it; 4096 also satisfies <c>O_DIRECT</c> on disks with 4 KiB logical blocks.
    /// </summary>
    public const int DirectAlignment = 4096;

    private readonly ConcurrentDictionary<int, Segment> _segments = new();
    private readonly Lock _openLock = new();
    private int _disposed;
    private long _directWrites;
    private long _bufferedWrites;
    private readonly BlockingCollection<PendingWrite> _writes = [];
    private readonly Thread _writer;

    public PreallocatingFileDevice(string filename)
        : base(filename, DirectAlignment, Devices.CAPACITY_UNSPECIFIED)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(filename))!);
        RecoverSegmentRange();
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "omnistore log writer" };
        _writer.Start();
    }

    /// <summary>Writes that went straight to the disk (<c>O_DIRECT</c>), and through the page cache.</summary>
    public (long Direct, long Buffered) WriteCounts => (Interlocked.Read(ref _directWrites), Interlocked.Read(ref _bufferedWrites));

    /// <summary>Whether segment <paramref name="segmentId"/> has an <c>O_DIRECT</c> handle (the file system allows it).</summary>
    public bool WritesDirectly(int segmentId) => Open(segmentId).HasDirectHandle;

    /// <summary>
    /// Reads <paramref name="length"/> bytes at <paramref name="offset"/> of an existing segment into
    /// <paramref name="buffers"/> with one synchronous <c>preadv</c>, through the page cache. False if
    /// the segment does not exist (any more), or fewer bytes could be read.
    /// </summary>
    public bool TryRead(int segmentId, long offset, IReadOnlyList<Memory<byte>> buffers, long length)
    {
        try
        {
            var segment = Open(segmentId, create: false);
            return segment is not null && RandomAccess.Read(segment.Handle, buffers, offset) == length;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            return false; // removed while we read, or unreadable: the caller goes through FASTER
        }
    }

    public override void ReadAsync(int segmentId, ulong sourceAddress, IntPtr destinationAddress, uint readLength, DeviceIOCompletionCallback callback, object context) =>
        _ = ReadCoreAsync(segmentId, (long)sourceAddress, Wrap(destinationAddress, readLength), callback, context);

    /// <summary>Queues the write for the device's writer thread (see <see cref="WriteLoop"/>).</summary>
    public override void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        try
        {
            _writes.Add(new PendingWrite(segmentId, (long)destinationAddress, sourceAddress, (int)numBytesToWrite, callback, context));
        }
        catch (InvalidOperationException)
        {
            callback(uint.MaxValue, 0, context); // disposed
        }
    }

    public override void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result)
    {
        RemoveSegment(segment);
        callback(result);
    }

    public override void RemoveSegment(int segment)
    {
        if (_segments.TryRemove(segment, out var open))
        {
            open.Dispose();
        }

        try
        {
            File.Delete(GetSegmentFilename(FileName, segment));
        }
        catch (IOException)
        {
            // Still open elsewhere or already gone: the next truncation tries again.
        }
    }

    /// <summary>
    /// Gives back to the file system the blocks of [<paramref name="offset"/>, +<paramref name="length"/>)
    /// of a segment, keeping its length (<c>FALLOC_FL_PUNCH_HOLE</c>): the part of a segment below
    /// the log's begin address, which nothing reads any more. False where the segment is gone or the
    /// file system cannot punch holes; the space then comes back when the whole segment is removed.
    /// </summary>
    public bool PunchHole(int segmentId, long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0)
        {
            return false;
        }

        try
        {
            var segment = Open(segmentId, create: false);
            return segment is not null && Fallocate((int)segment.Handle.DangerousGetHandle(), PunchHoleKeepSize, offset, length) == 0;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private const int PunchHoleKeepSize = 0x02 | 0x01; // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE

    public override long GetFileSize(int segment) => segmentSize > 0 ? segmentSize : RandomAccess.GetLength(Open(segment).Handle);

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Writes already queued finish first (FASTER waits for the flushes it started).
        _writes.CompleteAdding();
        _writer.Join();
        _writes.Dispose();
        foreach (var segment in _segments.Values)
        {
            segment.Dispose();
        }

        _segments.Clear();
    }

    private async Task ReadCoreAsync(int segmentId, long offset, Memory<byte> destination, DeviceIOCompletionCallback callback, object context)
    {
        uint error = 0;
        int done = 0;
        try
        {
            var handle = Open(segmentId).Handle;
            while (done < destination.Length)
            {
                int read = await RandomAccess.ReadAsync(handle, destination[done..], offset + done).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                done += read;
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            error = uint.MaxValue;
        }

        callback(error, (uint)done, context);
    }

    /// <summary>
    /// The writer thread: performs the queued writes in order, each a blocking <c>pwrite</c>, and
    /// reports them to FASTER. Writes take a thread of their own because they block for as long as
    /// the disk needs (a 32 MiB page is tens of milliseconds): on the thread pool they would hold
    /// its few threads while the requests that fill the log wait for those very flushes to finish
    /// (log pages are reused only once written), and the node would stall until the pool grew.
    /// </summary>
    private void WriteLoop()
    {
        foreach (var write in _writes.GetConsumingEnumerable())
        {
            uint error = 0;
            try
            {
                var segment = Open(write.Segment);
                segment.Reserve(write.Offset + write.Length, segmentSize);
                var handle = segment.WriteHandleFor(write.Source, write.Length, write.Offset);
                unsafe
                {
                    RandomAccess.Write(handle, new ReadOnlySpan<byte>((void*)write.Source, write.Length), write.Offset);
                }

                Interlocked.Increment(ref handle == segment.Handle ? ref _bufferedWrites : ref _directWrites);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or UnauthorizedAccessException)
            {
                error = uint.MaxValue;
            }

            write.Callback(error, error == 0 ? (uint)write.Length : 0, write.Context);
        }
    }

    /// <summary>A write FASTER asked for, waiting for the writer thread.</summary>
    private readonly record struct PendingWrite(int Segment, long Offset, IntPtr Source, int Length, DeviceIOCompletionCallback Callback, object Context);

    private Segment Open(int segmentId) => Open(segmentId, create: true)!;

    /// <summary>The open segment, opening its file first if need be; null if it does not exist and <paramref name="create"/> is false.</summary>
    private Segment? Open(int segmentId, bool create)
    {
        if (_segments.TryGetValue(segmentId, out var segment))
        {
            return segment;
        }

        lock (_openLock)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (!_segments.TryGetValue(segmentId, out segment))
            {
                string path = GetSegmentFilename(FileName, segmentId);
                if (!create && !File.Exists(path))
                {
                    return null;
                }

                var handle = File.OpenHandle(path, create ? FileMode.OpenOrCreate : FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
                segment = new Segment(handle, OpenDirect(path), RandomAccess.GetLength(handle));
                _segments[segmentId] = segment;
                if (segmentId > endSegment)
                {
                    endSegment = segmentId;
                }
            }

            return segment;
        }
    }

    /// <summary>A second, <c>O_DIRECT</c> handle on a segment file; null where the OS or file system has none.</summary>
    private static SafeFileHandle? OpenDirect(string path)
    {
        // O_DIRECT differs between architectures; elsewhere every write stays buffered.
        int direct = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 0x4000,
            Architecture.Arm64 => 0x10000,
            _ => 0,
        };
        if (!OperatingSystem.IsLinux() || direct == 0)
        {
            return null;
        }

        const int ReadWrite = 0x2, CloseOnExec = 0x80000;
        int fd = Open(path, ReadWrite | CloseOnExec | direct);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    private static unsafe Memory<byte> Wrap(IntPtr address, uint length) => new PointerMemoryManager((byte*)address, (int)length).Memory;

    /// <summary>Finds the segments already on disk, as FASTER's own devices do on recovery.</summary>
    private void RecoverSegmentRange()
    {
        var file = new FileInfo(FileName);
        if (file.Directory is not { Exists: true } directory)
        {
            return;
        }

        var ids = directory.GetFiles(file.Name + ".*")
            .Select(f => int.TryParse(f.Name.AsSpan(file.Name.Length + 1), out int id) ? id : -1)
            .Where(id => id >= 0)
            .Order()
            .ToList();
        if (ids.Count > 0)
        {
            startSegment = ids[0];
            endSegment = ids[^1];
        }
    }

    /// <summary>One open segment file, its direct-write handle if any, and how much of it is reserved on disk.</summary>
    private sealed class Segment(SafeFileHandle handle, SafeFileHandle? direct, long reserved) : IDisposable
    {
        private long _reserved = reserved;

        /// <summary>The buffered handle: reads, unaligned writes, length and fsync.</summary>
        public SafeFileHandle Handle { get; } = handle;

        public bool HasDirectHandle => direct is not null;

        /// <summary>The direct handle when the write of <paramref name="length"/> bytes from <paramref name="source"/> at <paramref name="offset"/> is aligned for it; the buffered one otherwise.</summary>
        public SafeFileHandle WriteHandleFor(IntPtr source, int length, long offset) =>
            direct is not null && (((long)source | offset | (long)(uint)length) & (DirectAlignment - 1)) == 0 ? direct : Handle;

        public void Dispose()
        {
            direct?.Dispose();
            Handle.Dispose();
        }

        public void Reserve(long end, long segmentSize)
        {
            if (end <= Volatile.Read(ref _reserved))
            {
                return;
            }

            lock (this)
            {
                long step = Math.Clamp((long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)end), MinimumAllocationStep, AllocationStep);
                long target = ((end + step - 1) / step) * step;
                if (segmentSize > 0)
                {
                    target = Math.Min(target, segmentSize);
                }

                if (target <= _reserved)
                {
                    return;
                }

                // Best effort: where fallocate is missing or refused, writes still work, only slower.
                if (OperatingSystem.IsLinux())
                {
                    _ = Fallocate((int)Handle.DangerousGetHandle(), 0, _reserved, target - _reserved);
                }

                _reserved = target;
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(int fd, int mode, long offset, long length);
}
