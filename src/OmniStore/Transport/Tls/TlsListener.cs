using System.Net;
using OmniStore.Security;

namespace OmniStore.Transport.Tls;

/// <summary>A listener of the inner transport whose connections are opened with TLS (the acceptor's handshake starts when the node opens one).</summary>
internal sealed class TlsListener(IConnectionListener inner, TlsCredentials credentials, string scheme) : IConnectionListener
{
    public IReadOnlyList<Rudp.Internal.RudpEndpoint> DatagramSockets => inner.DatagramSockets;

    public IReadOnlyList<NodeAddress> Addresses { get; } = [.. inner.Addresses.Select(a => a with { Scheme = scheme })];

    public async Task<AcceptResult> AcceptAsync(CancellationToken cancellationToken)
    {
        var result = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
        return result.Connection is { } connection ? result with { Connection = new Incoming(connection, this) } : result;
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class Incoming(IncomingConnection inner, TlsListener listener) : IncomingConnection
    {
        public override IPEndPoint? RemoteEndPoint => inner.RemoteEndPoint;

        public override TransportConnection? Open(LinkCounters counters)
        {
            if (inner.Open(counters) is not { } connection)
            {
                return null;
            }

            var secured = new TlsConnection(connection, listener._scheme);
            secured.StartAsServer(listener._credentials, RemoteEndPoint?.ToString() ?? "a peer");
            return secured;
        }

        // The peer expects TLS: a farewell in clear would read as a broken record, so the refusal is the close.
        public override void Refuse(ReadOnlySpan<byte> farewell) => inner.Refuse([]);
    }

    private readonly string _scheme = scheme;
    private readonly TlsCredentials _credentials = credentials;
}
