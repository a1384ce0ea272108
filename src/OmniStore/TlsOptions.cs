using OmniStore.Security;

namespace OmniStore;

/// <summary>
/// TLS for <c>tls+tcp://</c> and <c>tls+rudp://</c> links (docs/tls.md): this node's or client's
/// certificate and private key, and the tree CA's certificate, as <c>omnistore ca issue</c> and
/// <c>omnistore ca init</c> write them (PEM). The certificate's key is then the node's key, and its
/// rights (role, write and read prefixes) are what peers grant it.
/// </summary>
public sealed record TlsOptions
{
    /// <summary>The certificate (PEM; the file <c>ca issue</c> writes holds the CA's after it).</summary>
    public required string CertificateFile { get; init; }

    /// <summary>Its private key (PEM); refused when group or others may read it.</summary>
    public required string KeyFile { get; init; }

    /// <summary>The tree CA's certificate: the only one trusted.</summary>
    public required string CaFile { get; init; }

    /// <summary>The CA's revocation list (<c>ca.crl</c>), or null for none. A root sends it down the tree.</summary>
    public string? RevocationListFile { get; init; }

    /// <summary>Reads the files and checks them against each other.</summary>
    internal TlsCredentials Load() => TlsCredentials.Load(CertificateFile, KeyFile, CaFile, RevocationListFile);
}
