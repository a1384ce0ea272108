namespace OmniStore.Transport.Rudp.Internal;

/// <summary>Writes frames into a packet's payload (docs/rudp.md, "Frames"); each method returns the bytes written, or 0 when they do not fit.</summary>
internal static class FrameWriter
{
    /// <summary>
    /// An ACK of <paramref name="ranges"/>, newest first, non-overlapping and descending; at most
    /// as many as fit in <paramref name="destination"/> (the oldest are left out), and at most
    /// <see cref="FrameReader.MaxAckRanges"/>.
    /// </summary>
    public static int WriteAck(Span<byte> destination, ReadOnlySpan<AckRange> ranges, long ackDelayMicroseconds)
    {
        if (ranges.IsEmpty)
        {
            throw new ArgumentException("An ACK acknowledges at least one range.", nameof(ranges));
        }

        // One pass: the size with each further range, keeping the most ranges that fit (the range
        // count's own varint grows with them).
        var first = ranges[0];
        ulong delay = (ulong)Math.Max(0, ackDelayMicroseconds) >> 3;
        int fixedSize = 1 + Varint.SizeOf((ulong)first.Largest) + Varint.SizeOf(delay) + Varint.SizeOf((ulong)(first.Largest - first.Smallest));
        int limit = Math.Min(ranges.Length, FrameReader.MaxAckRanges);
        int count = 0, rangesSize = 0;
        for (int i = 0; i < limit; i++)
        {
            int added = 0;
            if (i > 0)
            {
                long gap = ranges[i - 1].Smallest - ranges[i].Largest - 2;
                if (gap < 0 || ranges[i].Smallest > ranges[i].Largest)
                {
                    throw new ArgumentException("ACK ranges must be descending, apart and well formed.", nameof(ranges));
                }

                added = Varint.SizeOf((ulong)gap) + Varint.SizeOf((ulong)(ranges[i].Largest - ranges[i].Smallest));
            }

            if (fixedSize + Varint.SizeOf((ulong)i) + rangesSize + added > destination.Length)
            {
                break;
            }

            rangesSize += added;
            count = i + 1;
        }

        if (count == 0)
        {
            return 0;
        }

        int at = 0;
        destination[at++] = (byte)RudpFrameType.Ack;
        at += Varint.Write(destination[at..], (ulong)first.Largest);
        at += Varint.Write(destination[at..], delay);
        at += Varint.Write(destination[at..], (ulong)(count - 1));
        at += Varint.Write(destination[at..], (ulong)(first.Largest - first.Smallest));
        for (int i = 1; i < count; i++)
        {
            at += Varint.Write(destination[at..], (ulong)(ranges[i - 1].Smallest - ranges[i].Largest - 2));
            at += Varint.Write(destination[at..], (ulong)(ranges[i].Largest - ranges[i].Smallest));
        }

        return at;
    }

    /// <summary>A STREAM frame with as many bytes of <paramref name="data"/> as fit; <paramref name="taken"/> says how many.</summary>
    public static int WriteStream(Span<byte> destination, long offset, ReadOnlySpan<byte> data, bool fin, out int taken)
    {
        taken = 0;
        int head = 1 + Varint.SizeOf((ulong)offset);
        int room = destination.Length - head;
        if (room < 2)
        {
            return 0;
        }

        int length = Math.Min(data.Length, room - Varint.SizeOf((ulong)Math.Min(data.Length, room)));
        if (length < 0 || (length == 0 && !data.IsEmpty))
        {
            return 0;
        }

        bool last = fin && length == data.Length;
        int at = 0;
        destination[at++] = (byte)(last ? RudpFrameType.StreamFin : RudpFrameType.Stream);
        at += Varint.Write(destination[at..], (ulong)offset);
        at += Varint.Write(destination[at..], (ulong)length);
        data[..length].CopyTo(destination[at..]);
        taken = length;
        return at + length;
    }

    /// <summary>MAX_DATA or DATA_BLOCKED with <paramref name="limit"/>.</summary>
    public static int WriteLimit(Span<byte> destination, RudpFrameType type, long limit)
    {
        if (type is not (RudpFrameType.MaxData or RudpFrameType.DataBlocked))
        {
            throw new ArgumentException($"{type} carries no limit.", nameof(type));
        }

        int size = 1 + Varint.SizeOf((ulong)limit);
        if (size > destination.Length)
        {
            return 0;
        }

        destination[0] = (byte)type;
        return 1 + Varint.Write(destination[1..], (ulong)limit);
    }

    /// <summary>CONNECTION_CLOSE with a code and a reason (cut to <see cref="FrameReader.MaxReasonLength"/> bytes at a character boundary).</summary>
    public static int WriteClose(Span<byte> destination, long errorCode, string reason)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(reason);
        int length = Math.Min(bytes.Length, FrameReader.MaxReasonLength);
        while (length > 0 && length < bytes.Length && (bytes[length] & 0xC0) == 0x80)
        {
            length--; // not in the middle of a character
        }

        int size = 1 + Varint.SizeOf((ulong)errorCode) + Varint.SizeOf((ulong)length) + length;
        if (size > destination.Length)
        {
            return 0;
        }

        int at = 0;
        destination[at++] = (byte)RudpFrameType.ConnectionClose;
        at += Varint.Write(destination[at..], (ulong)errorCode);
        at += Varint.Write(destination[at..], (ulong)length);
        bytes.AsSpan(0, length).CopyTo(destination[at..]);
        return at + length;
    }
}
