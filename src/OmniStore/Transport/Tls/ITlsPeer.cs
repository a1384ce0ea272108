using OmniStore.Security;

namespace OmniStore.Transport.Tls;

/// <summary>
/// The feature of a TLS link (<see cref="TransportConnection.GetFeature{TFeature}"/>): who the
/// peer's certificate says it is, once the TLS handshake checked it (docs/tls.md).
/// </summary>
internal interface ITlsPeer
{
    /// <summary>Completes when the TLS handshake is done; fails with <see cref="OmniStoreError.Unauthorized"/> when the peer was refused.</summary>
    Task Authenticated { get; }

    /// <summary>The name in the peer's certificate (escaped).</summary>
    string? PeerName { get; }

    /// <summary>What the peer's certificate grants.</summary>
    NodeRights? PeerRights { get; }

    /// <summary>The peer certificate's SubjectPublicKeyInfo (DER): its node key.</summary>
    byte[]? PeerPublicKey { get; }

    /// <summary>The peer certificate's serial number (hexadecimal): what a revocation list names.</summary>
    string? PeerSerial { get; }
}
