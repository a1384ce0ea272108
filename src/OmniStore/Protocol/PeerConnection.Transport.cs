using Microsoft.Extensions.Logging;
using OmniStore.Transport;

namespace OmniStore.Protocol;

internal sealed partial class PeerConnection
{
    /// <summary>The transport and path this connection runs over; null over a bare pipe.</summary>
    public LinkPath? Path => (_pipe as TransportConnection)?.Path;

    /// <summary>The peer's endpoint as the transport reports it; null if it has none.</summary>
    public string? RemoteEndPoint => (_pipe as TransportConnection)?.RemoteEndPoint?.ToString();

    /// <summary>The peer's IP endpoint as the transport reports it (the address its NAT maps it to); null over a bare pipe or an in-process link.</summary>
    public System.Net.IPEndPoint? RemoteIPEndPoint => (_pipe as TransportConnection)?.RemoteEndPoint as System.Net.IPEndPoint;

    /// <summary>This end's IP endpoint as the transport reports it; null over a bare pipe or an in-process link.</summary>
    public System.Net.IPEndPoint? LocalIPEndPoint => (_pipe as TransportConnection)?.LocalEndPoint as System.Net.IPEndPoint;

    /// <summary>What the peer's TLS certificate grants (docs/tls.md, "Rights"); null on a plain link, where every peer may do everything its side allows.</summary>
    public Security.NodeRights? PeerRights => (_pipe as TransportConnection)?.GetFeature<Transport.Tls.ITlsPeer>()?.PeerRights;

    /// <summary>The name in the peer's TLS certificate (escaped); null on a plain link.</summary>
    public string? PeerCertificateName => (_pipe as TransportConnection)?.GetFeature<Transport.Tls.ITlsPeer>()?.PeerName;

    /// <summary>On a TLS link, the serial number of the peer's certificate (hexadecimal); null on a plain link.</summary>
    public string? PeerCertificateSerial => (_pipe as TransportConnection)?.GetFeature<Transport.Tls.ITlsPeer>()?.PeerSerial;

    /// <summary>
    /// Runs the handshake over <paramref name="transport"/> and starts the connection, counting in
    /// the transport's counters and using its features (gathered send, direct receive) where it has
    /// them. See <see cref="StartAsync(System.IO.Pipelines.IDuplexPipe, IAsyncDisposable, bool, ConnectionIdentity, IRequestHandler?, LinkCounters, ConnectionLimits, ILogger?, CancellationToken)"/>.
    /// </summary>
    public static Task<PeerConnection> StartAsync(
        TransportConnection transport,
        bool isOpener,
        ConnectionIdentity local,
        IRequestHandler? handler,
        ConnectionLimits limits,
        ILogger? logger,
        CancellationToken cancellationToken) =>
        StartAsync(transport, transport, isOpener, local, handler, transport.Counters, limits, logger, cancellationToken);
}
