namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// The receiving end of a connection's one stream (docs/rudp.md, "Flow control"): STREAM frames in
/// any order, duplicated or overlapping, are put in place; the application reads the contiguous
/// prefix; the window (the highest offset the peer may send, MAX_DATA) moves with what was read.
/// Memory is bounded by the window: a frame past it, a final size that changes, or bytes past the
/// final size are protocol violations, refused before anything is stored.
/// </summary>
internal sealed class StreamReceiveBuffer
{
    private byte[] _ring;            // offsets [read, read + ring length) live at offset % ring length; grows with what is held
    private readonly RangeSet _held = new();
    private int _window;             // bytes the peer may send beyond what was read
    private long _read;              // bytes the application has read
    private long _limit;             // MAX_DATA as last advertised
    private long _finalSize = -1;

    /// <param name="window">Bytes the peer may send beyond what was read (the initial MAX_DATA): the most the buffer holds.</param>
    /// <param name="initialRing">Bytes allocated at first; the ring doubles as the bytes held need it, up to the window, so an idle connection costs little.</param>
    public StreamReceiveBuffer(int window, int initialRing = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        _ring = new byte[Math.Clamp(initialRing, 1, window)];
        _window = window;
        _limit = window;
    }

    /// <summary>Bytes the peer may send beyond what was read.</summary>
    public int Window => _window;

    /// <summary>
    /// Separate ranges held at most: one per 512 bytes of window, far more than the gaps losses
    /// leave between packets, so a peer cannot make the receiver keep (and search) a range per
    /// byte. More is a protocol violation.
    /// </summary>
    public int MaxGaps => Math.Max(64, _window / 512);

    /// <summary>Bytes allocated for the ring now.</summary>
    public int Allocated => _ring.Length;

    /// <summary>Lets the peer send up to <paramref name="window"/> bytes beyond what was read (window auto-tuning); the next <see cref="WindowUpdate"/> advertises it. Never shrinks.</summary>
    public void GrowWindow(int window) => _window = Math.Max(_window, window);

    /// <summary>The highest stream offset the peer may send (MAX_DATA).</summary>
    public long Limit => _limit;

    /// <summary>Bytes read by the application so far.</summary>
    public long ReadOffset => _read;

    /// <summary>Bytes ready to read (the contiguous prefix past <see cref="ReadOffset"/>).</summary>
    public long Readable => _held.First is { } first && first.Start == _read ? first.End - _read : 0;

    /// <summary>The stream's final size once the peer sent its FIN, else -1.</summary>
    public long FinalSize => _finalSize;

    /// <summary>Whether every byte up to the stream's end has been read.</summary>
    public bool Finished => _finalSize >= 0 && _read == _finalSize;

    /// <summary>
    /// Puts a STREAM frame's bytes in place. Returns null when accepted (a duplicate is accepted and
    /// changes nothing), else why the frame violates the protocol.
    /// </summary>
    public string? Receive(long offset, ReadOnlySpan<byte> data, bool fin)
    {
        if (offset < 0 || offset > long.MaxValue - data.Length)
        {
            return "a STREAM frame's offset out of range";
        }

        long end = offset + data.Length;
        if (end > _limit)
        {
            return $"a STREAM frame up to offset {end}, past the window's {_limit}";
        }

        if (_finalSize >= 0 && (end > _finalSize || (fin && end != _finalSize)))
        {
            return $"a STREAM frame up to offset {end} of a stream whose final size is {_finalSize}";
        }

        if (fin)
        {
            if (end < _held.End || end < _read)
            {
                return $"a final size of {end} below bytes already received";
            }

            _finalSize = end;
        }

        // Only what was not read yet is kept.
        long from = Math.Max(offset, _read);
        if (end - _read > _ring.Length)
        {
            Grow(end - _read); // within the limit, so within the window
        }

        for (long at = from; at < end;)
        {
            int index = (int)(at % _ring.Length);
            int count = (int)Math.Min(end - at, _ring.Length - index);
            data.Slice((int)(at - offset), count).CopyTo(_ring.AsSpan(index, count));
            at += count;
        }

        _held.Add(from, end);
        if (_held.Count > MaxGaps)
        {
            return $"{_held.Count} separate ranges of stream bytes held (at most {MaxGaps} for a window of {_window} bytes)";
        }

        return null;
    }

    /// <summary>Copies up to <paramref name="destination"/>'s length of the readable bytes out; returns how many.</summary>
    public int Read(Span<byte> destination)
    {
        int count = (int)Math.Min(destination.Length, Readable);
        for (int done = 0; done < count;)
        {
            int index = (int)((_read + done) % _ring.Length);
            int piece = Math.Min(count - done, _ring.Length - index);
            _ring.AsSpan(index, piece).CopyTo(destination.Slice(done, piece));
            done += piece;
        }

        _read += count;
        _held.RemoveBelow(_read);
        return count;
    }

    /// <summary>
    /// The new MAX_DATA to advertise when the application has read half a window since the last
    /// one (so a sender is never stalled waiting for credit it could have had), else null.
    /// </summary>
    public long? WindowUpdate()
    {
        long next = _read + _window;
        if (next - _limit < _window / 2 || _finalSize >= 0)
        {
            return null;
        }

        _limit = next;
        return next;
    }

    /// <summary>A larger ring holding at least <paramref name="needed"/> bytes past the read offset, the held bytes moved to their places in it.</summary>
    private void Grow(long needed)
    {
        long size = _ring.Length;
        while (size < needed)
        {
            size *= 2;
        }

        var ring = new byte[(int)Math.Min(size, Math.Max(_window, needed))];
        foreach (var (start, end) in _held.Ranges)
        {
            for (long at = start; at < end;)
            {
                int from = (int)(at % _ring.Length);
                int to = (int)(at % ring.Length);
                int count = (int)Math.Min(Math.Min(end - at, _ring.Length - from), ring.Length - to);
                _ring.AsSpan(from, count).CopyTo(ring.AsSpan(to, count));
                at += count;
            }
        }

        _ring = ring;
    }
}
