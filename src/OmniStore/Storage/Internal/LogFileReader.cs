using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using OmniStore.Content;

namespace OmniStore.Storage.Internal;

/// <summary>The sizes a table allows its records' keys and values; anything else in its log is damage.</summary>
internal readonly record struct RecordLimits(int MinKeyLength, int MaxKeyLength, int MaxValueLength);

/// <summary>
/// The records of one page of a log between two addresses, summed: a count and the sum of a hash of
/// each record's address, previous address, tombstone flag, key and value. It leaves out the record
/// header's other bits, which FASTER changes in place on records it already wrote (locks, seals,
/// recovery invalidating records of an unfinished version); a record's content never changes.
/// </summary>
internal readonly record struct PageDigest(long From, long Until, long Records, ulong Sum);

/// <summary>
/// Reads a FASTER log's segment files directly (<c>log.0</c>, <c>log.1</c>, ...) to check them before
/// FASTER reads them: that the segments between two addresses exist and are long enough, and that
/// every record between two addresses is well formed (a header FASTER would follow out of its page
/// buffer crashes the process: an access violation cannot be caught). Optionally it digests the
/// records page by page (<see cref="PageDigest"/>), to find flipped bits in a log whose every byte
/// matters (the catalog).
/// </summary>
/// <remarks>
/// FASTER's record layout for byte keys and values: an 8-byte header (48 bits of previous address,
/// then flags, the tombstone at bit 55), the key as a 4-byte length and its bytes padded to 8, then
/// the value as a 4-byte length and its bytes, the record padded to 8. A record never crosses a page;
/// an all-zero header is free space (the end of a page), skipped 8 bytes at a time. The two high bits
/// of a length are flags (unserialized, extra metadata) that a record on disk never has.
/// </remarks>
internal sealed class LogFileReader : IDisposable
{
    private const int WindowSize = 64 << 10;
    private const long PreviousAddressMask = (1L << 48) - 1;
    private const long TombstoneBit = 1L << 55;
    private const int LengthFlags = unchecked((int)0xC0000000);

    private readonly string _path;
    private readonly string _displayName;
    private readonly int _pageBits;
    private readonly int _segmentBits;
    private readonly Dictionary<int, SafeFileHandle> _segments = [];
    private readonly XxHash3Hasher _hasher = new();
    private byte[] _window = ArrayPool<byte>.Shared.Rent(WindowSize);
    private long _windowStart = -1;
    private int _windowLength;

    /// <param name="path">The log's base path: segment N is <c>{path}.N</c>.</param>
    /// <param name="displayName">How errors name the log, relative to the store (<c>data/log</c>).</param>
    /// <param name="pageBits">log2 of the page size.</param>
    /// <param name="segmentBits">log2 of the segment size.</param>
    public LogFileReader(string path, string displayName, int pageBits, int segmentBits)
    {
        _path = path;
        _displayName = displayName;
        _pageBits = pageBits;
        _segmentBits = segmentBits;
    }

    /// <summary>
    /// Checks that every segment holding part of [<paramref name="begin"/>, <paramref name="final"/>)
    /// exists and reaches at least as far as that range: a segment deleted or cut short would make
    /// FASTER recover less than the checkpoint holds, without a word.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Corrupt"/>, naming the segment.</exception>
    public void CheckSegments(long begin, long final)
    {
        if (final <= begin)
        {
            return;
        }

        for (long segment = begin >> _segmentBits; segment <= (final - 1) >> _segmentBits; segment++)
        {
            long needed = Math.Min(1L << _segmentBits, final - (segment << _segmentBits));
            string name = $"{_displayName}.{segment}";
            if (!File.Exists($"{_path}.{segment}"))
            {
                throw Damaged($"{name} is missing (the last commit holds log up to address {final})");
            }

            long length = new FileInfo($"{_path}.{segment}").Length;
            if (length < needed)
            {
                throw Damaged($"{name} is cut short: {length} bytes where the last commit holds {needed}");
            }
        }
    }

    /// <summary>
    /// Walks the records in [<paramref name="from"/>, <paramref name="until"/>), which must start at a
    /// record (a page's start always does), checking each against <paramref name="limits"/>; adds each
    /// record to its page's entry in <paramref name="digests"/> when given.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.Corrupt"/>, naming the segment and the address.</exception>
    public void Walk(long from, long until, RecordLimits limits, SortedDictionary<long, PageDigest>? digests)
    {
        long address = from;
        while (address < until)
        {
            long pageEnd = ((address >> _pageBits) + 1) << _pageBits;
            long word = BinaryPrimitives.ReadInt64LittleEndian(Read(address, sizeof(long)));
            if (word == 0)
            {
                address += sizeof(long);
                continue;
            }

            int keyField = BinaryPrimitives.ReadInt32LittleEndian(Read(address + 8, sizeof(int)));
            int keyLength = keyField & ~LengthFlags;
            if ((keyField & LengthFlags) != 0 || keyLength < limits.MinKeyLength || keyLength > limits.MaxKeyLength)
            {
                throw Damaged(address, $"has a malformed record header (key length field {keyField:x8})");
            }

            long valueAt = address + 8 + Align(sizeof(int) + keyLength);
            if (valueAt + sizeof(int) > pageEnd)
            {
                throw Damaged(address, "has a record that crosses its page");
            }

            int valueField = BinaryPrimitives.ReadInt32LittleEndian(Read(valueAt, sizeof(int)));
            int valueLength = valueField & ~LengthFlags;
            if ((valueField & LengthFlags) != 0 || valueLength > limits.MaxValueLength)
            {
                throw Damaged(address, $"has a malformed record header (value length field {valueField:x8})");
            }

            long end = address + Align((int)(valueAt - address) + sizeof(int) + valueLength);
            if (end > pageEnd)
            {
                throw Damaged(address, "has a record that crosses its page");
            }

            if (end > until)
            {
                throw Damaged(address, $"has a record that runs past the end of the log as of the last commit ({until})");
            }

            if (digests is not null)
            {
                AddToDigest(digests, address, word, Read(address + 8, (int)(end - address - 8)), keyLength, (int)(valueAt - address - 8), valueLength, from, until);
            }

            address = end;
        }
    }

    private void AddToDigest(SortedDictionary<long, PageDigest> digests, long address, long word, ReadOnlySpan<byte> body, int keyLength, int valueOffset, int valueLength, long from, long until)
    {
        Span<byte> header = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(header, address);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], word & (PreviousAddressMask | TombstoneBit));
        _hasher.Reset();
        _hasher.Append(header);
        _hasher.Append(body[..(sizeof(int) + keyLength)]);
        _hasher.Append(body.Slice(valueOffset, sizeof(int) + valueLength));
        ulong hash = _hasher.GetCurrentHash64();

        long page = address >> _pageBits;
        var digest = digests.TryGetValue(page, out var known)
            ? known
            : new PageDigest(Math.Max(from, page << _pageBits), Math.Min(until, (page + 1) << _pageBits), 0, 0);
        digests[page] = digest with { Records = digest.Records + 1, Sum = unchecked(digest.Sum + hash) };
    }

    /// <summary>
    /// The page digests of [<paramref name="from"/>, <paramref name="until"/>): every page in the
    /// range has an entry, empty or not, covering its part of the range.
    /// </summary>
    public SortedDictionary<long, PageDigest> Digest(long from, long until, RecordLimits limits)
    {
        var digests = new SortedDictionary<long, PageDigest>();
        for (long page = from >> _pageBits; from < until && page <= (until - 1) >> _pageBits; page++)
        {
            digests[page] = new PageDigest(Math.Max(from, page << _pageBits), Math.Min(until, (page + 1) << _pageBits), 0, 0);
        }

        Walk(from, until, limits, digests);
        return digests;
    }

    /// <summary>
    /// <paramref name="length"/> bytes at <paramref name="address"/>, from the window or read into it.
    /// A read never crosses a page (the caller checks a record's extent first).
    /// </summary>
    private ReadOnlySpan<byte> Read(long address, int length)
    {
        if (address >= _windowStart && address + length <= _windowStart + _windowLength)
        {
            return _window.AsSpan((int)(address - _windowStart), length);
        }

        long pageEnd = ((address >> _pageBits) + 1) << _pageBits;
        int size = (int)Math.Min(Math.Max(WindowSize, length), pageEnd - address);
        if (_window.Length < size)
        {
            ArrayPool<byte>.Shared.Return(_window);
            _window = ArrayPool<byte>.Shared.Rent(size);
        }

        int segment = (int)(address >> _segmentBits);
        long offset = address & ((1L << _segmentBits) - 1);
        int read = 0;
        try
        {
            var handle = Segment(segment);
            while (read < size)
            {
                int n = RandomAccess.Read(handle, _window.AsSpan(read, size - read), offset + read);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }
        }
        catch (IOException ex)
        {
            throw Damaged($"{_displayName}.{segment} cannot be read at offset {offset}: {ex.Message}");
        }

        _windowStart = address;
        _windowLength = read;
        if (read < length)
        {
            throw Damaged($"{_displayName}.{segment} is cut short: it ends before address {address + length}, which the last commit holds");
        }

        return _window.AsSpan(0, length);
    }

    private SafeFileHandle Segment(int segment)
    {
        if (!_segments.TryGetValue(segment, out var handle))
        {
            string path = $"{_path}.{segment}";
            if (!File.Exists(path))
            {
                throw Damaged($"{_displayName}.{segment} is missing");
            }

            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            _segments[segment] = handle;
        }

        return handle;
    }

    private OmniStoreException Damaged(long address, string problem) =>
        Damaged($"{_displayName}.{address >> _segmentBits} at address {address} {problem}");

    private static OmniStoreException Damaged(string problem) => new(OmniStoreError.Corrupt, problem);

    private static long Align(int size) => (size + 7) & ~7L;

    public void Dispose()
    {
        foreach (var handle in _segments.Values)
        {
            handle.Dispose();
        }

        _segments.Clear();
        ArrayPool<byte>.Shared.Return(_window);
        _window = [];
    }
}
