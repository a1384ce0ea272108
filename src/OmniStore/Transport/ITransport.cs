namespace OmniStore.Transport;

/// <summary>
/// A way to reach nodes, named by its address scheme (<c>tcp</c>, <c>mem</c>, later <c>rudp</c>):
/// it connects to an address and listens on one (Kestrel's <c>IConnectionFactory</c> and
/// <c>IConnectionListenerFactory</c> in one). Registered in a <see cref="TransportRegistry"/>.
/// </summary>
internal interface ITransport
{
    /// <summary>The address scheme, lower case.</summary>
    string Scheme { get; }

    /// <summary>
    /// Connects to <paramref name="address"/>, counting what crosses in <paramref name="counters"/>.
    /// Throws <see cref="OmniStoreException"/> (<see cref="OmniStoreError.Unavailable"/>) when nothing answers there.
    /// </summary>
    Task<TransportConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken);

    /// <summary>
    /// Listens on <paramref name="address"/>. Throws <see cref="OmniStoreException"/>
    /// (<see cref="OmniStoreError.Unavailable"/> or <see cref="OmniStoreError.InvalidArgument"/>) when it cannot.
    /// </summary>
    IConnectionListener Listen(NodeAddress address);
}
