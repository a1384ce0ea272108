namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// The sending end of a connection's one stream (docs/rudp.md, "Reliability" and "Flow control"):
/// the application's bytes wait here until acknowledged. What goes out next is a lost range first
/// (retransmission re-sends stream ranges, not packets, and never a part acknowledged meanwhile),
/// then new bytes within the peer's window (MAX_DATA). The buffer never holds more than its
/// capacity, and never sends past the peer's window or the stream's end.
/// </summary>
internal sealed class StreamSendBuffer
{
    private byte[] _ring;            // offsets [acked prefix, written) live at offset % ring length; grows up to the capacity
    private readonly int _capacity;
    private readonly RangeSet _acked = new();
    private readonly RangeSet _lost = new();
    private long _ackedPrefix;       // every byte below is acknowledged (and its room free)
    private long _written;           // bytes the application gave
    private long _sent;              // the highest offset sent so far
    private long _peerLimit;         // the peer's MAX_DATA
    private bool _closed;
    private bool _finSent;
    private bool _finLost;
    private bool _finAcked;

    /// <param name="capacity">The most bytes held (written and not yet acknowledged).</param>
    /// <param name="peerLimit">The peer's initial MAX_DATA.</param>
    /// <param name="initialRing">Bytes allocated at first; the ring doubles as the bytes held need it, up to the capacity.</param>
    public StreamSendBuffer(int capacity, long peerLimit, int initialRing = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
        _ring = new byte[Math.Clamp(initialRing, 1, capacity)];
        _peerLimit = peerLimit;
    }

    /// <summary>Room for the application's next bytes.</summary>
    public int Free => (int)(_capacity - (_written - _ackedPrefix));

    /// <summary>Bytes the application gave so far.</summary>
    public long Written => _written;

    /// <summary>The peer's window: the highest offset it accepts.</summary>
    public long PeerLimit => _peerLimit;

    /// <summary>Bytes written and not yet acknowledged.</summary>
    public long Held => _written - _ackedPrefix;

    /// <summary>Stream bytes the peer acknowledged, every one below this offset.</summary>
    public long AckedPrefix => _ackedPrefix;

    /// <summary>Bytes allocated for the ring now.</summary>
    public int Allocated => _ring.Length;

    /// <summary>Whether nothing waits to be sent: no lost range, no new byte the window allows, no FIN to send.</summary>
    public bool Idle => _lost.Count == 0 && Math.Min(_written, _peerLimit) <= _sent && !(_closed && (!_finSent || _finLost));

    /// <summary>Whether new bytes wait for the peer's window (DATA_BLOCKED).</summary>
    public bool Blocked => _written > _peerLimit && _sent >= _peerLimit;

    /// <summary>Whether every byte and the end of the stream are acknowledged.</summary>
    public bool Done => _closed && _finAcked && _ackedPrefix == _written;

    /// <summary>Takes as many of <paramref name="data"/>'s bytes as there is room for; returns how many.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        if (_closed)
        {
            throw new InvalidOperationException("The stream was closed.");
        }

        int count = Math.Min(data.Length, Free);
        if (_written + count - _ackedPrefix > _ring.Length)
        {
            Grow(_written + count - _ackedPrefix);
        }

        for (int done = 0; done < count;)
        {
            int index = (int)((_written + done) % _ring.Length);
            int piece = Math.Min(count - done, _ring.Length - index);
            data.Slice(done, piece).CopyTo(_ring.AsSpan(index, piece));
            done += piece;
        }

        _written += count;
        return count;
    }

    /// <summary>Ends the stream after the bytes written so far (a FIN goes with the last of them).</summary>
    public void Close() => _closed = true;

    /// <summary>The peer raised its window (a MAX_DATA frame); a lower value is ignored, as RFC 9000 says.</summary>
    public void OnMaxData(long limit) => _peerLimit = Math.Max(_peerLimit, limit);

    /// <summary>
    /// The next STREAM frame's range, at most <paramref name="maxLength"/> bytes: a lost range first,
    /// then new bytes the peer's window allows. Null when nothing may go now. Fin says whether the
    /// frame carries the end of the stream (alone, with no bytes, when they all went before).
    /// </summary>
    public (long Offset, int Length, bool Fin)? Next(int maxLength)
    {
        if (_lost.First is { } lost)
        {
            int length = (int)Math.Min(lost.End - lost.Start, maxLength);
            _lost.Remove(lost.Start, lost.Start + length);
            bool fin = _closed && lost.Start + length == _written && (_finLost || !_finSent);
            if (fin)
            {
                _finLost = false;
                _finSent = true;
            }

            return (lost.Start, length, fin);
        }

        long end = Math.Min(Math.Min(_written, _peerLimit), _sent + maxLength);
        bool finNow = _closed && end == _written && (!_finSent || _finLost);
        if (end <= _sent && !finNow)
        {
            return null;
        }

        long offset = _sent;
        _sent = Math.Max(_sent, end);
        if (finNow)
        {
            _finSent = true;
            _finLost = false;
        }

        return (offset, (int)(end - offset), finNow);
    }

    /// <summary>Copies the bytes of [<paramref name="offset"/>, +<paramref name="destination"/>.Length) (a range <see cref="Next"/> gave).</summary>
    public void CopyTo(long offset, Span<byte> destination)
    {
        if (offset < _ackedPrefix || offset + destination.Length > _written)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), "The range is not held any more, or not written yet.");
        }

        for (int done = 0; done < destination.Length;)
        {
            int index = (int)((offset + done) % _ring.Length);
            int piece = Math.Min(destination.Length - done, _ring.Length - index);
            _ring.AsSpan(index, piece).CopyTo(destination.Slice(done, piece));
            done += piece;
        }
    }

    /// <summary>A packet carrying [<paramref name="offset"/>, +<paramref name="length"/>) (and the FIN, if <paramref name="fin"/>) was acknowledged.</summary>
    public void OnAcked(long offset, int length, bool fin)
    {
        _acked.Add(offset, offset + length);
        _lost.Remove(offset, offset + length); // a late ack of a "lost" packet: not sent again
        if (fin)
        {
            _finAcked = true;
            _finLost = false;
        }

        if (_acked.First is { } first && first.Start <= _ackedPrefix)
        {
            _ackedPrefix = Math.Max(_ackedPrefix, first.End);
            _acked.RemoveBelow(_ackedPrefix);
        }
    }

    /// <summary>A packet carrying [<paramref name="offset"/>, +<paramref name="length"/>) was lost: what of it is not acknowledged goes again.</summary>
    public void OnLost(long offset, int length, bool fin)
    {
        long start = Math.Max(offset, _ackedPrefix);
        long end = offset + length;
        if (end > start)
        {
            _lost.Add(start, end);
            foreach (var (s, e) in _acked.Ranges)
            {
                _lost.Remove(s, e);
            }
        }

        if (fin && !_finAcked)
        {
            _finLost = true; // it goes with the last lost range, or alone (Next)
        }
    }

    /// <summary>A larger ring holding at least <paramref name="needed"/> bytes past the acknowledged prefix, the held bytes moved to their places in it.</summary>
    private void Grow(long needed)
    {
        long size = _ring.Length;
        while (size < needed)
        {
            size *= 2;
        }

        var ring = new byte[(int)Math.Min(size, _capacity)];
        for (long at = _ackedPrefix; at < _written;)
        {
            int from = (int)(at % _ring.Length);
            int to = (int)(at % ring.Length);
            int count = (int)Math.Min(Math.Min(_written - at, _ring.Length - from), ring.Length - to);
            _ring.AsSpan(from, count).CopyTo(ring.AsSpan(to, count));
            at += count;
        }

        _ring = ring;
    }
}
