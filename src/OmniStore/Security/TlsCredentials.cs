using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OmniStore.Security;

/// <summary>
/// What a node presents and trusts on its TLS links (docs/tls.md): its certificate and key, the
/// tree CA (the only root it trusts: the system's store is never consulted), the CA's revocation
/// list, and the rights its own certificate grants. Checks every peer certificate: chained to the
/// tree CA and in date, not revoked, carrying rights, and, for a dialer, issued for the host it
/// dialed.
/// </summary>
internal sealed class TlsCredentials : IDisposable
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    private readonly SslStreamCertificateContext _context;
    private RevocationList? _revocations;

    private TlsCredentials(X509Certificate2 certificate, X509Certificate2 ca, NodeRights rights, RevocationList? revocations)
    {
        Certificate = certificate;
        Ca = ca;
        Rights = rights;
        Name = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        _revocations = revocations;
        _context = SslStreamCertificateContext.Create(certificate, [ca], offline: true);
    }

    /// <summary>This node's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The tree CA's certificate.</summary>
    public X509Certificate2 Ca { get; }

    /// <summary>What this node's own certificate grants.</summary>
    public NodeRights Rights { get; private set; }

    /// <summary>The name in this node's certificate.</summary>
    public string Name { get; }

    /// <summary>The revocation list held now (null: none loaded).</summary>
    public RevocationList? Revocations => Volatile.Read(ref _revocations);

    /// <summary>Raised after a newer revocation list replaced the one held.</summary>
    public event Action<RevocationList>? RevocationsChanged;

    /// <summary>Reads the files a node is given (<c>--tls-cert</c>, <c>--tls-key</c>, <c>--tls-ca</c>, <c>--tls-crl</c>) and checks them against each other.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: a file is missing, unreadable, readable by others (the key), or they do not fit together.</exception>
    public static TlsCredentials Load(string certificatePath, string keyPath, string caPath, string? revocationPath = null)
    {
        foreach (var (path, option) in new[] { (certificatePath, "--tls-cert"), (keyPath, "--tls-key"), (caPath, "--tls-ca") })
        {
            if (!File.Exists(path))
            {
                throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The {option} file '{path}' does not exist.");
            }
        }

        KeyFiles.CheckPrivate(keyPath);
        X509Certificate2 certificate, ca;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            ca = X509Certificate2.CreateFromPem(File.ReadAllText(caPath));
        }
        catch (CryptographicException ex)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The TLS files cannot be read (--tls-cert '{certificatePath}' must be a PEM certificate, --tls-key '{keyPath}' its private key, --tls-ca '{caPath}' the tree CA's certificate): {ex.Message}", ex);
        }

        if (ca.Extensions["2.5.29.19"] is not X509BasicConstraintsExtension { CertificateAuthority: true })
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"--tls-ca '{caPath}' is not a CA certificate (make one with `omnistore ca init`).");
        }

        var revocations = revocationPath is null ? null : RevocationList.Load(revocationPath, ca);
        var credentials = new TlsCredentials(certificate, ca, NodeRights.For(CertificateRole.Client), revocations);
        if (credentials.Check(certificate, expectedHost: null, out var rights) is { } problem)
        {
            credentials.Dispose();
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The certificate '{certificatePath}' cannot be used with the CA '{caPath}': {problem}.");
        }

        credentials.Rights = rights!;
        return credentials;
    }

    /// <summary>Holds <paramref name="list"/> when it is newer than the list held; false when it is not.</summary>
    public bool TryReplaceRevocations(RevocationList list)
    {
        while (true)
        {
            var held = Volatile.Read(ref _revocations);
            if (held is not null && list.Number <= held.Number)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _revocations, list, held) == held)
            {
                RevocationsChanged?.Invoke(list);
                return true;
            }
        }
    }

    /// <summary>
    /// Why <paramref name="peer"/> is not to be trusted, or null when it is: it chains to the tree
    /// CA and is in date, is not revoked, carries rights, and (when <paramref name="expectedHost"/>
    /// is given) names that host among its DNS names or IP addresses.
    /// </summary>
    public string? Check(X509Certificate2 peer, string? expectedHost, out NodeRights? rights)
    {
        rights = null;
        using (var chain = new X509Chain())
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(Ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            chain.ChainPolicy.ApplicationPolicy.Add(ServerAuth);
            chain.ChainPolicy.ApplicationPolicy.Add(ClientAuth);
            bool built = chain.Build(peer);
            if (!built || chain.ChainElements.Count != 2 || !chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(Ca.RawDataMemory.Span))
            {
                string why = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
                return $"certificate '{Subject(peer)}' is not one of this tree's ({(why.Length > 0 ? why : "it is not issued by the tree CA")})";
            }
        }

        if (Revocations is { } list && list.IsRevoked(peer))
        {
            return $"certificate '{Subject(peer)}' (serial {peer.SerialNumber}) is revoked";
        }

        rights = NodeRights.TryRead(peer, out string? problem);
        if (rights is null)
        {
            return $"certificate '{Subject(peer)}': {problem}";
        }

        if (expectedHost is not null && !Names(peer, expectedHost))
        {
            return $"certificate '{Subject(peer)}' is not for '{Internal.UntrustedText.Escape(expectedHost, 80)}' (it names {string.Join(", ", NamesOf(peer))})";
        }

        return null;
    }

    /// <summary>The options a dialer's TLS handshake uses to reach <paramref name="host"/>; the check's verdict goes to <paramref name="verdict"/>.</summary>
    public SslClientAuthenticationOptions ClientOptions(string host, TlsVerdict verdict) => new()
    {
        TargetHost = host,
        EnabledSslProtocols = SslProtocols.Tls13,
        ClientCertificateContext = _context,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        AllowTlsResume = true,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => Decide(certificate, host, verdict),
    };

    /// <summary>The options an acceptor's TLS handshake uses; a certificate from the dialer is required.</summary>
    public SslServerAuthenticationOptions ServerOptions(TlsVerdict verdict) => new()
    {
        ServerCertificateContext = _context,
        EnabledSslProtocols = SslProtocols.Tls13,
        ClientCertificateRequired = true,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        AllowTlsResume = true,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => Decide(certificate, null, verdict),
    };

    private bool Decide(X509Certificate? certificate, string? host, TlsVerdict verdict)
    {
        if (certificate is null)
        {
            verdict.Problem = "the peer presented no certificate";
            return false;
        }

        var peer = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        verdict.Problem = Check(peer, host, out var rights);
        verdict.Rights = rights;
        verdict.Name = Subject(peer);
        verdict.PublicKey = peer.PublicKey.ExportSubjectPublicKeyInfo();
        verdict.Serial = Convert.ToHexString(peer.SerialNumberBytes.Span);
        return verdict.Problem is null;
    }

    private static string Subject(X509Certificate2 certificate) =>
        Internal.UntrustedText.Escape(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false), 80);

    private static bool Names(X509Certificate2 certificate, string host)
    {
        if (certificate.Extensions["2.5.29.17"] is not X509SubjectAlternativeNameExtension names)
        {
            return false;
        }

        if (IPAddress.TryParse(host, out var address))
        {
            return names.EnumerateIPAddresses().Any(a => a.Equals(address));
        }

        return names.EnumerateDnsNames().Any(n => string.Equals(n, host, StringComparison.OrdinalIgnoreCase));
    }

    private static IEnumerable<string> NamesOf(X509Certificate2 certificate) =>
        certificate.Extensions["2.5.29.17"] is X509SubjectAlternativeNameExtension names
            ? names.EnumerateDnsNames().Concat(names.EnumerateIPAddresses().Select(a => a.ToString())).Select(n => Internal.UntrustedText.Escape(n, 80))
            : ["nothing"];

    public void Dispose()
    {
        Certificate.Dispose();
        Ca.Dispose();
    }
}

/// <summary>What a TLS handshake's certificate check found of the peer: a problem, or its name, rights and key.</summary>
internal sealed class TlsVerdict
{
    public string? Problem { get; set; }

    public string? Name { get; set; }

    public NodeRights? Rights { get; set; }

    /// <summary>The peer certificate's SubjectPublicKeyInfo (DER): the key its node id derives from.</summary>
    public byte[]? PublicKey { get; set; }

    /// <summary>The peer certificate's serial number (hexadecimal, big-endian): what a revocation list names.</summary>
    public string? Serial { get; set; }
}
