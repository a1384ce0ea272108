using FASTER.core;

namespace OmniStore.Storage.Internal;

/// <summary>
/// Reading a table by scanning its log. FASTER 2.6.5's iterator of live records
/// (<c>FasterKV.Iterate</c>) returns, for a key whose older record is on disk and whose newer one
/// supersedes it, the older record with the last byte of its key overwritten: a removed name comes
/// back as a bound name that no read finds, which kept every removed object "reachable" for
/// reclamation. These scans read the log record by record (<c>Log.Scan</c>, which returns what is on
/// disk) and decide themselves which record of a key is the latest: the last one in log order.
/// </summary>
internal sealed partial class FasterTable
{
    /// <summary>
    /// Every record from the begin address to the tail as it is now, superseded and deleted ones
    /// included (<see cref="RecordInfo.Tombstone"/> tells a deletion); the caller decides what is
    /// current, typically by reading a suspect again by its key.
    /// </summary>
    public IFasterScanIterator<SpanByte, SpanByte> ScanAll() => _kv.Log.Scan(_kv.Log.BeginAddress, _kv.Log.TailAddress);

    /// <summary>
    /// The latest record of every key that starts with <paramref name="tag"/>, unless that record is
    /// a deletion, as copies (key without the tag's byte removed, value), in no particular order.
    /// Holds one copy of each such key and value while it scans: for the catalog's small records.
    /// </summary>
    public List<(byte[] Key, byte[] Value)> ReadLatest(byte tag)
    {
        var latest = new Dictionary<byte[], byte[]?>(ByteArrayComparer.Instance);
        using (var iterator = ScanAll())
        {
            while (iterator.GetNext(out var info))
            {
                var key = iterator.GetKey().AsReadOnlySpan();
                if (key.Length == 0 || key[0] != tag)
                {
                    continue;
                }

                // Log order is write order: a later record of the key replaces what an earlier one said.
                latest[key.ToArray()] = info.Tombstone ? null : iterator.GetValue().AsReadOnlySpan().ToArray();
            }
        }

        var result = new List<(byte[], byte[])>(latest.Count);
        foreach (var (key, value) in latest)
        {
            if (value is not null)
            {
                result.Add((key, value));
            }
        }

        return result;
    }

    /// <summary>Compares keys by their bytes.</summary>
    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var hash = default(HashCode);
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }
}
