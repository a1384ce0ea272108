namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// A sender's congestion control (docs/rudp.md, "Congestion control and pacing"): told of acks,
/// rate samples and losses, it sets how much may be in flight and how fast packets leave. Bytes,
/// microseconds, bytes per second.
/// </summary>
internal interface ICongestionController
{
    /// <summary>The controller's name and state, for status ("bbr/ProbeBW", "cubic/CongestionAvoidance").</summary>
    string State { get; }

    /// <summary>Bytes that may be in flight.</summary>
    long CongestionWindow { get; }

    /// <summary>How fast packets leave, in bytes per second.</summary>
    long PacingRate { get; }

    /// <summary>Packets acknowledged by one ACK at <paramref name="now"/> (oldest first), with the rate sample they gave, if any.</summary>
    void OnAck(IReadOnlyList<SentPacket> acknowledged, RateSample? sample, long minRtt, long now, long bytesInFlight);

    /// <summary>
    /// A round-trip time measured before any ack of data (the client's handshake): a controller
    /// that paces from a default RTT until it has one paces from this instead.
    /// </summary>
    void OnInitialRtt(long rtt);

    /// <summary>Packets declared lost at <paramref name="now"/>.</summary>
    void OnLoss(IReadOnlyList<SentPacket> lost, long now, long bytesInFlight);

    /// <summary>The path's datagrams grew (path MTU probing): the window's floor follows, in bytes.</summary>
    void OnMaxDatagram(int size);
}
