namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// Reads the frames of a packet's payload one by one (docs/rudp.md, "Frames"). Everything is the
/// peer's word: every length and count is checked against the bytes there are before it is used,
/// nothing is allocated, and anything malformed ends the reading with a reason (the connection is
/// then closed as a protocol violation), never an exception.
/// </summary>
internal ref struct FrameReader
{
    /// <summary>ACK ranges a frame may list; more is malformed (a receiver keeps at most 32).</summary>
    public const int MaxAckRanges = 64;

    /// <summary>Bytes of a CONNECTION_CLOSE reason, at most.</summary>
    public const int MaxReasonLength = 256;

    /// <summary>Bytes of a PATH_CHALLENGE or PATH_RESPONSE.</summary>
    public const int PathDataSize = 8;

    private ReadOnlySpan<byte> _rest;

    public FrameReader(ReadOnlySpan<byte> payload) => _rest = payload;

    /// <summary>Why the last <see cref="TryRead"/> failed, or null when the payload simply ended.</summary>
    public string? Problem { get; private set; }

    /// <summary>
    /// Reads the next frame; ACK ranges go into <paramref name="ranges"/> (at least
    /// <see cref="MaxAckRanges"/> long), newest first. False at the end of the payload
    /// (<see cref="Problem"/> null) or on a malformed frame (<see cref="Problem"/> says what).
    /// </summary>
    public bool TryRead(Span<AckRange> ranges, out RudpFrame frame)
    {
        frame = default;
        if (_rest.IsEmpty)
        {
            return false;
        }

        var type = (RudpFrameType)_rest[0];
        _rest = _rest[1..];
        switch (type)
        {
            case RudpFrameType.Padding:
            case RudpFrameType.Ping:
                frame = new RudpFrame { Type = type };
                return true;
            case RudpFrameType.Ack:
                return TryReadAck(ranges, out frame);
            case RudpFrameType.Stream:
            case RudpFrameType.StreamFin:
                return TryReadStream(type, out frame);
            case RudpFrameType.MaxData:
            case RudpFrameType.DataBlocked:
                if (!TryVarint(out ulong limit, "limit"))
                {
                    return false;
                }

                frame = new RudpFrame { Type = type, Offset = (long)limit };
                return true;
            case RudpFrameType.PathChallenge:
            case RudpFrameType.PathResponse:
                if (_rest.Length < PathDataSize)
                {
                    return Fail($"a {type} frame shorter than {PathDataSize} bytes");
                }

                frame = new RudpFrame { Type = type, Data = _rest[..PathDataSize] };
                _rest = _rest[PathDataSize..];
                return true;
            case RudpFrameType.ConnectionClose:
                return TryReadClose(out frame);
            default:
                return Fail($"unknown frame type 0x{(byte)type:x2}");
        }
    }

    private bool TryReadAck(Span<AckRange> ranges, out RudpFrame frame)
    {
        frame = default;
        if (!TryVarint(out ulong largest, "largest acknowledged") || !TryVarint(out ulong delay, "ack delay")
            || !TryVarint(out ulong count, "range count") || !TryVarint(out ulong first, "first range"))
        {
            return false;
        }

        if (count > MaxAckRanges - 1 || ranges.Length < MaxAckRanges)
        {
            return Fail($"an ACK of {count + 1} ranges (at most {MaxAckRanges})");
        }

        if (first > largest)
        {
            return Fail($"an ACK range below packet 0 ({first} packets under {largest})");
        }

        long smallest = (long)(largest - first);
        ranges[0] = new AckRange(smallest, (long)largest);
        for (int i = 1; i <= (int)count; i++)
        {
            if (!TryVarint(out ulong gap, "ACK gap") || !TryVarint(out ulong length, "ACK range"))
            {
                return false;
            }

            // RFC 9000 section 19.3.1: the next range ends gap + 2 below the previous smallest.
            if (gap + 2 > (ulong)smallest || length > (ulong)smallest - gap - 2)
            {
                return Fail("an ACK range below packet 0");
            }

            long rangeLargest = smallest - (long)gap - 2;
            smallest = rangeLargest - (long)length;
            ranges[i] = new AckRange(smallest, rangeLargest);
        }

        // The delay is in units of 8 us; far more than any real delay is still bounded (2^62 >> 3 us fits a long).
        frame = new RudpFrame { Type = RudpFrameType.Ack, LargestAcknowledged = (long)largest, AckDelayMicroseconds = (long)Math.Min(delay, long.MaxValue / 8) * 8, RangeCount = (int)count + 1 };
        return true;
    }

    private bool TryReadStream(RudpFrameType type, out RudpFrame frame)
    {
        frame = default;
        if (!TryVarint(out ulong offset, "stream offset") || !TryVarint(out ulong length, "stream length"))
        {
            return false;
        }

        if (length > (ulong)_rest.Length)
        {
            return Fail($"a STREAM frame of {length} bytes with {_rest.Length} left in the packet");
        }

        if (offset + length > Varint.Max)
        {
            return Fail("a STREAM frame past the largest stream offset");
        }

        frame = new RudpFrame { Type = type, Offset = (long)offset, Data = _rest[..(int)length] };
        _rest = _rest[(int)length..];
        return true;
    }

    private bool TryReadClose(out RudpFrame frame)
    {
        frame = default;
        if (!TryVarint(out ulong code, "error code") || !TryVarint(out ulong length, "reason length"))
        {
            return false;
        }

        if (length > MaxReasonLength || length > (ulong)_rest.Length)
        {
            return Fail($"a CONNECTION_CLOSE reason of {length} bytes (at most {MaxReasonLength}, {_rest.Length} left)");
        }

        frame = new RudpFrame { Type = RudpFrameType.ConnectionClose, ErrorCode = (long)code, Data = _rest[..(int)length] };
        _rest = _rest[(int)length..];
        return true;
    }

    private bool TryVarint(out ulong value, string what)
    {
        if (!Varint.TryRead(_rest, out value, out int size))
        {
            return Fail($"a frame cut short in its {what}");
        }

        _rest = _rest[size..];
        return true;
    }

    private bool Fail(string problem)
    {
        Problem = problem;
        _rest = default;
        return false;
    }
}
