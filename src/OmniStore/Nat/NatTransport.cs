using OmniStore.Transport;

namespace OmniStore.Nat;

/// <summary>
/// rudp, and also <c>rudp://NAME</c> (no port): a node behind NAT, reached through
/// <see cref="NatTraversal"/> (docs/nat.md). Everything else goes to the rudp transport as it is;
/// this is the one place the core meets NAT traversal, a registry entry (<see cref="TransportRegistry.With"/>).
/// </summary>
internal sealed class NatTransport(ITransport rudp, NatTraversal traversal) : ITransport
{
    public string Scheme => rudp.Scheme;

    public Task<TransportConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken) =>
        address.Port == 0
            ? traversal.ConnectAsync(address.Host, counters, cancellationToken)
            : rudp.ConnectAsync(address, counters, cancellationToken);

    public IConnectionListener Listen(NodeAddress address) => rudp.Listen(address);
}
