using OmniStore.Security;

namespace OmniStore.Transport.Tls;

/// <summary>
/// <c>tls+SCHEME://host:port</c>: the transport <paramref name="inner"/> with TLS 1.3 over every
/// connection (docs/tls.md). Without credentials (the default registry's entry) it refuses to
/// connect or listen, naming the options that are missing, so an address list may name TLS
/// addresses before the node has its certificate.
/// </summary>
internal sealed class TlsTransport(ITransport inner, TlsCredentials? credentials) : ITransport
{
    /// <summary>The prefix of every TLS scheme.</summary>
    public const string Prefix = "tls+";

    public string Scheme { get; } = Prefix + inner.Scheme;

    public ITransport Inner => inner;

    public TlsCredentials? Credentials => credentials;

    public async Task<TransportConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken)
    {
        var tls = RequireCredentials(address);
        var connection = await inner.ConnectAsync(address with { Scheme = inner.Scheme }, counters, cancellationToken).ConfigureAwait(false);
        var secured = new TlsConnection(connection, Scheme);
        try
        {
            await secured.AuthenticateAsClientAsync(tls, address.Host, address.ToString(), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await secured.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return secured;
    }

    public IConnectionListener Listen(NodeAddress address)
    {
        var tls = RequireCredentials(address);
        return new TlsListener(inner.Listen(address with { Scheme = inner.Scheme }), tls, Scheme);
    }

    private TlsCredentials RequireCredentials(NodeAddress address) =>
        credentials ?? throw new OmniStoreException(OmniStoreError.InvalidArgument, $"{address} is a TLS address: it needs this node's certificate, key and tree CA (--tls-cert, --tls-key, --tls-ca; docs/security.md).");
}
