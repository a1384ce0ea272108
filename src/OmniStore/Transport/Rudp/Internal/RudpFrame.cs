namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// One frame read from a packet. Which fields mean something depends on <see cref="Type"/>; byte
/// fields are slices of the datagram, valid while it is. ACK ranges go to the caller's buffer
/// (<see cref="FrameReader"/>), newest first.
/// </summary>
internal readonly ref struct RudpFrame
{
    public RudpFrameType Type { get; init; }

    /// <summary>ACK: the largest packet number acknowledged.</summary>
    public long LargestAcknowledged { get; init; }

    /// <summary>ACK: how long the receiver held the acknowledgment, in microseconds.</summary>
    public long AckDelayMicroseconds { get; init; }

    /// <summary>ACK: how many ranges were written to the caller's buffer.</summary>
    public int RangeCount { get; init; }

    /// <summary>STREAM: the offset of <see cref="Data"/> in the stream; MAX_DATA and DATA_BLOCKED: the limit.</summary>
    public long Offset { get; init; }

    /// <summary>STREAM: the bytes; PATH_CHALLENGE and PATH_RESPONSE: the 8 bytes; CONNECTION_CLOSE: the UTF-8 reason.</summary>
    public ReadOnlySpan<byte> Data { get; init; }

    /// <summary>CONNECTION_CLOSE: the error code (0: a graceful close).</summary>
    public long ErrorCode { get; init; }
}
