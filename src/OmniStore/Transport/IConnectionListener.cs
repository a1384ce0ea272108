namespace OmniStore.Transport;

/// <summary>
/// Accepts connections of one transport on one address. An accept that fails does not end the
/// listener: the caller learns why (<see cref="AcceptResult"/>) and decides whether to back off, so
/// running out of descriptors or buffers for a while never stops a node from accepting again.
/// </summary>
internal interface IConnectionListener : IAsyncDisposable
{
    /// <summary>The addresses it listens on, with actual ports where 0 was asked for (one per address a host name resolved to).</summary>
    IReadOnlyList<NodeAddress> Addresses { get; }

    /// <summary>
    /// Waits for the next connection. Never throws for a failed accept. A call that does not
    /// complete at once has got past anything that could make accepting fail (for TCP: taking a
    /// descriptor), so the caller may count accepting as working.
    /// </summary>
    Task<AcceptResult> AcceptAsync(CancellationToken cancellationToken);

    /// <summary>The rudp sockets it listens on, for NAT traversal (whose mappings are those sockets'); none for other transports.</summary>
    IReadOnlyList<Rudp.Internal.RudpEndpoint> DatagramSockets => [];
}
