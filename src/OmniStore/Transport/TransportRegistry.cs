using System.Collections.Frozen;
using OmniStore.Transport.Internal;
using OmniStore.Transport.Memory;
using OmniStore.Transport.Rudp;
using OmniStore.Transport.Tcp;
using OmniStore.Transport.Tls;
using OmniStore.Security;

namespace OmniStore.Transport;

/// <summary>
/// The transports a node or client can use, by scheme. A new transport is one more entry here (and
/// one folder under Transport/); nothing under Node/ or Protocol/ names a concrete one.
/// </summary>
internal sealed class TransportRegistry
{
    private readonly FrozenDictionary<string, ITransport> _byScheme;

    public TransportRegistry(IEnumerable<ITransport> transports)
    {
        _byScheme = transports.ToFrozenDictionary(t => t.Scheme, StringComparer.OrdinalIgnoreCase);
        Schemes = [.. _byScheme.Keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>What this build offers: TCP, rudp (reliable UDP), the in-process <c>mem</c> transport, and TLS over TCP and rudp (which refuse to connect until <see cref="WithTls"/> gives them credentials).</summary>
    public static TransportRegistry Default { get; } = new(
    [
        TcpTransport.Instance, RudpTransport.Instance, MemoryTransport.Instance,
        new TlsTransport(TcpTransport.Instance, null), new TlsTransport(RudpTransport.Instance, null),
    ]);

    /// <summary>
    /// This registry with its TLS transports (<c>tls+tcp</c>, <c>tls+rudp</c>) using
    /// <paramref name="credentials"/>: what a node given a certificate connects and listens with.
    /// </summary>
    public TransportRegistry WithTls(TlsCredentials credentials) =>
        new(_byScheme.Values.Select(t => t is TlsTransport tls ? new TlsTransport(tls.Inner, credentials) : t));

    /// <summary>
    /// This registry with <paramref name="replacement"/> in place of the transport of its scheme,
    /// also under the TLS transport over that scheme (NAT traversal's rudp that also dials names).
    /// </summary>
    public TransportRegistry With(ITransport replacement) =>
        new(_byScheme.Values.Select(t => t.Scheme == replacement.Scheme ? replacement
            : t is TlsTransport tls && tls.Inner.Scheme == replacement.Scheme ? new TlsTransport(replacement, tls.Credentials) : t));

    /// <summary>The registered schemes, sorted.</summary>
    public IReadOnlyList<string> Schemes { get; }

    /// <summary>The transport for <paramref name="scheme"/>; throws <see cref="OmniStoreException"/> (<see cref="OmniStoreError.InvalidArgument"/>) if none is registered.</summary>
    public ITransport Get(string scheme) =>
        _byScheme.TryGetValue(scheme, out var transport)
            ? transport
            : throw new OmniStoreException(OmniStoreError.InvalidArgument, $"No transport for the scheme '{scheme}' (this build has {string.Join(", ", Schemes.Select(s => s + "://"))}).");

    public bool Contains(string scheme) => _byScheme.ContainsKey(scheme);

    /// <inheritdoc cref="ITransport.ConnectAsync"/>
    public Task<TransportConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken) =>
        Get(address.Scheme).ConnectAsync(address, counters, cancellationToken);

    /// <inheritdoc cref="ITransport.Listen"/>
    public IConnectionListener Listen(NodeAddress address) => Get(address.Scheme).Listen(address);

    /// <summary>
    /// Listens on every one of <paramref name="addresses"/> (of any registered schemes) as one
    /// listener, whose <see cref="IConnectionListener.Addresses"/> are every address bound, in this
    /// order. If one cannot be bound, those bound before it are closed and its error is thrown.
    /// </summary>
    public IConnectionListener Listen(IReadOnlyList<NodeAddress> addresses)
    {
        ArgumentOutOfRangeException.ThrowIfZero(addresses.Count);
        if (addresses.Count == 1)
        {
            return Listen(addresses[0]); // nothing in between the node and its one listener
        }

        var bound = new List<IConnectionListener>(addresses.Count);
        try
        {
            foreach (var address in addresses)
            {
                bound.Add(Listen(address));
            }
        }
        catch
        {
            foreach (var listener in bound)
            {
                // Nothing was accepted yet, so closing completes at once.
                listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            throw;
        }

        return new CompositeListener(bound);
    }
}
