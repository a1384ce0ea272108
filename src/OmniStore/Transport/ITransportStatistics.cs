namespace OmniStore.Transport;

/// <summary>
/// A transport that runs its own congestion control and can say how a link is doing (rudp); asked
/// for as a feature (<see cref="TransportConnection.GetFeature{TFeature}"/>). TCP leaves this to
/// the kernel and has none.
/// </summary>
internal interface ITransportStatistics
{
    /// <summary>The link's state now.</summary>
    TransportStatistics Statistics { get; }
}

/// <summary>
/// A link's transport-level state (docs/rudp.md, "Status and metrics"): the round trip the
/// transport measured (smoothed and least, ms), the congestion controller and its state, its window
/// and pacing rate (bytes, bytes per second), bytes in flight, packets sent and lost, stream bytes
/// sent again, the path MTU (the largest datagram confirmed), the receive window, and which socket
/// path carries it.
/// </summary>
internal sealed record TransportStatistics(
    double RttMs, double MinRttMs, string Congestion, long CongestionWindow, long PacingRate, long BytesInFlight,
    long PacketsSent, long PacketsLost, long BytesRetransmitted, int PathMtu, int ReceiveWindow, string SocketPath)
{
    /// <summary>Packets lost per packet sent.</summary>
    public double LossRatio => PacketsSent == 0 ? 0 : Math.Round((double)PacketsLost / PacketsSent, 6);
}
