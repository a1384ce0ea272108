namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// A rudp connection's knobs (docs/rudp.md). The defaults are what a node uses; tests make some
/// shorter (idle timeout, handshake) so that a failure shows in seconds.
/// </summary>
internal sealed record RudpSettings
{
    public static RudpSettings Default { get; } = new();

    /// <summary>The receive window a connection starts with (MAX_DATA).</summary>
    public int InitialWindow { get; init; } = 1 << 20;

    /// <summary>The most the receive window grows to, and the most a sender holds unacknowledged.</summary>
    public int MaxWindow { get; init; } = 16 << 20;

    /// <summary>Receive window all the connections of one socket may grow by together, beyond their initial windows.</summary>
    public long WindowBudget { get; init; } = 256L << 20;

    /// <summary>How long a receiver may hold back an ACK (microseconds).</summary>
    public long MaxAckDelay { get; init; } = 25_000;

    /// <summary>A connection that hears nothing for this long is closed (the smaller of the two ends' values holds).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a connect waits for the handshake to finish.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a closed connection keeps sending what its peer has not acknowledged before it gives up.</summary>
    public TimeSpan LingerTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The congestion controller: <c>bbr</c> (default) or <c>cubic</c>.</summary>
    public string CongestionControl { get; init; } = Environment.GetEnvironmentVariable("OMNISTORE_RUDP_CC") is { Length: > 0 } cc ? cc.ToLowerInvariant() : "bbr";

    /// <summary>The datagram size every path starts with (RFC 8899's base PLPMTU; RFC 9000's minimum).</summary>
    public int BaseDatagram { get; init; } = PacketHeader.MinInitialDatagram;

    /// <summary>The largest datagram probed for (jumbo frames: 9000 - 28); 0 turns probing off.</summary>
    public int MaxProbedDatagram { get; init; } = 8972;

    /// <summary>Whether the socket uses the portable path even where the Linux fast path works.</summary>
    public bool PortableSocket { get; init; } = Environment.GetEnvironmentVariable("OMNISTORE_RUDP_PORTABLE") == "1";

    /// <summary>Connections accepted but not yet opened by the node, at most; further valid Initials are dropped (the client tries again).</summary>
    public int MaxPendingAccepts { get; init; } = 256;

    /// <summary>The microsecond clock every time of a connection is on.</summary>
    public static long Now() => (long)(System.Diagnostics.Stopwatch.GetTimestamp() * (1_000_000.0 / System.Diagnostics.Stopwatch.Frequency));

    internal void Validate()
    {
        if (CongestionControl is not ("bbr" or "cubic"))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"Unknown rudp congestion control '{CongestionControl}' (bbr or cubic).");
        }
    }
}
