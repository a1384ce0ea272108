using System.Net;

namespace OmniStore.Transport;

/// <summary>
/// A connection just accepted, not yet admitted: the node looks at where it comes from, then either
/// opens it (<see cref="Open"/>) or refuses it (<see cref="Refuse"/>). Until then it should cost
/// little, so that a flood of refused connections costs no pipes or buffers.
/// </summary>
internal abstract class IncomingConnection
{
    /// <summary>The peer's address and port, if the transport has them.</summary>
    public abstract IPEndPoint? RemoteEndPoint { get; }

    /// <summary>Turns it into a connection counted in <paramref name="counters"/>; null (and closed) if the peer is already gone.</summary>
    public abstract TransportConnection? Open(LinkCounters counters);

    /// <summary>
    /// Sends <paramref name="farewell"/> (what the protocol says to a refused peer) if it can go at
    /// once, then closes. Never waits and never throws.
    /// </summary>
    public abstract void Refuse(ReadOnlySpan<byte> farewell);
}
