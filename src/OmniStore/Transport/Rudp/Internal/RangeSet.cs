namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// Disjoint half-open ranges [start, end) of stream offsets, kept sorted and merged: what a sender
/// has had acknowledged or must send again, what a receiver holds beyond its contiguous prefix.
/// </summary>
internal sealed class RangeSet
{
    private readonly List<(long Start, long End)> _ranges = [];

    /// <summary>The ranges, in order.</summary>
    public IReadOnlyList<(long Start, long End)> Ranges => _ranges;

    /// <summary>The number of disjoint ranges (what a peer can make a receiver keep, so it is bounded by the caller).</summary>
    public int Count => _ranges.Count;

    /// <summary>Adds [<paramref name="start"/>, <paramref name="end"/>), merging with what it touches.</summary>
    public void Add(long start, long end)
    {
        if (end <= start)
        {
            return;
        }

        int i = FirstEndingAtOrAfter(start);
        while (i < _ranges.Count && _ranges[i].Start <= end)
        {
            start = Math.Min(start, _ranges[i].Start);
            end = Math.Max(end, _ranges[i].End);
            _ranges.RemoveAt(i);
        }

        _ranges.Insert(i, (start, end));
    }

    /// <summary>Removes [<paramref name="start"/>, <paramref name="end"/>), splitting a range it falls inside.</summary>
    public void Remove(long start, long end)
    {
        if (end <= start)
        {
            return;
        }

        int i = FirstEndingAtOrAfter(start + 1);
        while (i < _ranges.Count && _ranges[i].Start < end)
        {
            var (s, e) = _ranges[i];
            _ranges.RemoveAt(i);
            if (e > end)
            {
                _ranges.Insert(i, (end, e));
            }

            if (s < start)
            {
                _ranges.Insert(i, (s, start));
                i++;
            }
        }
    }

    /// <summary>Whether every offset of [<paramref name="start"/>, <paramref name="end"/>) is covered.</summary>
    public bool Covers(long start, long end)
    {
        if (end <= start)
        {
            return true;
        }

        int i = FirstEndingAtOrAfter(start + 1);
        return i < _ranges.Count && _ranges[i].Start <= start && _ranges[i].End >= end;
    }

    /// <summary>The first range, if any.</summary>
    public (long Start, long End)? First => _ranges.Count == 0 ? null : _ranges[0];

    /// <summary>The end of the last range (0 when empty).</summary>
    public long End => _ranges.Count == 0 ? 0 : _ranges[^1].End;

    /// <summary>Drops everything below <paramref name="offset"/>.</summary>
    public void RemoveBelow(long offset) => Remove(long.MinValue, offset);

    // The index of the first range whose end is at or after offset (binary search).
    private int FirstEndingAtOrAfter(long offset)
    {
        int low = 0, high = _ranges.Count;
        while (low < high)
        {
            int mid = (low + high) >>> 1;
            if (_ranges[mid].End < offset)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }
}
