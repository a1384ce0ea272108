namespace OmniStore.Transport.Tcp;

/// <summary>TCP: <c>tcp://host:port</c>. One connection per link, Nagle off, counted at the socket.</summary>
internal sealed class TcpTransport : ITransport
{
    public static TcpTransport Instance { get; } = new();

    private TcpTransport()
    {
    }

    public string Scheme => "tcp";

    public async Task<TransportConnection> ConnectAsync(NodeAddress address, LinkCounters counters, CancellationToken cancellationToken) =>
        await TcpConnection.ConnectAsync(address, counters, cancellationToken).ConfigureAwait(false);

    public IConnectionListener Listen(NodeAddress address) => TcpConnectionListener.Bind(address);
}
