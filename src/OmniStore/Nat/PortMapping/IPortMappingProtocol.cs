namespace OmniStore.Nat.PortMapping;

/// <summary>One way of asking a gateway for a UDP port forwarding: what <see cref="PortMapper"/> runs, renews and removes.</summary>
internal interface IPortMappingProtocol : IAsyncDisposable
{
    /// <summary>The protocol (one flag).</summary>
    PortMappingMethods Method { get; }

    /// <summary>
    /// Asks for <paramref name="internalPort"/> to be reachable from outside, at
    /// <paramref name="suggestedExternalPort"/> if the gateway can, for <paramref name="lifetime"/>;
    /// asking again for the same internal port renews it.
    /// </summary>
    /// <exception cref="OmniStoreException">The gateway refused, answered nonsense or did not answer.</exception>
    Task<PortMappingLease> MapAsync(int internalPort, int suggestedExternalPort, TimeSpan lifetime, CancellationToken cancellationToken);

    /// <summary>Removes a forwarding this protocol granted.</summary>
    /// <exception cref="OmniStoreException">The gateway refused, answered nonsense or did not answer.</exception>
    Task UnmapAsync(PortMappingLease lease, CancellationToken cancellationToken);
}
