using System.Globalization;
using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OmniStore.Security;

/// <summary>A certificate just issued: its PEM (the node's certificate, then the CA's), its key's PEM, and what was recorded of it.</summary>
internal sealed record IssuedCertificate(string Name, CertificateRole Role, string SerialHex, DateTimeOffset NotAfter, string CertificatePem, string KeyPem);

/// <summary>A certificate the CA issued, as <c>issued.tsv</c> records it.</summary>
internal sealed record IssuedRecord(string SerialHex, string Name, CertificateRole Role, DateTimeOffset NotAfter);

/// <summary>
/// A tree's certificate authority in a directory (docs/tls.md, "Files and commands"): <c>ca.pem</c>
/// and <c>ca.key</c> (ECDSA P-256), the revocation list <c>ca.crl</c>, and <c>issued.tsv</c>, the
/// record of every certificate issued. What <c>omnistore ca init|issue|revoke</c> do.
/// </summary>
internal sealed class TreeCa : IDisposable
{
    public const string CertificateFile = "ca.pem";
    public const string KeyFile = "ca.key";
    public const string RevocationFile = "ca.crl";
    public const string IssuedFile = "issued.tsv";

    /// <summary>How long a revocation list is valid; <c>ca revoke</c> writes a new one, and so should a yearly cron job.</summary>
    public static readonly TimeSpan RevocationListLifetime = TimeSpan.FromDays(365);

    private TreeCa(string directory, X509Certificate2 certificate)
    {
        Directory = directory;
        Certificate = certificate;
    }

    public string Directory { get; }

    /// <summary>The CA's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Makes a CA in <paramref name="directory"/> (created if missing; refused if it holds a CA already).</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: a bad name or term, or a CA is there already.</exception>
    public static TreeCa Init(string directory, string name, int days)
    {
        CheckName(name, "The CA's name");
        CheckDays(days);
        System.IO.Directory.CreateDirectory(directory);
        if (File.Exists(Path.Combine(directory, KeyFile)) || File.Exists(Path.Combine(directory, CertificateFile)))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"'{directory}' holds a CA already ({CertificateFile}, {KeyFile}); a new one would not be trusted by the certificates it issued.");
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}, O=OmniStore tree CA"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        using var selfSigned = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(days));

        KeyFiles.WriteNew(Path.Combine(directory, KeyFile), key.ExportPkcs8PrivateKeyPem(), KeyFiles.Private);
        KeyFiles.WriteNew(Path.Combine(directory, CertificateFile), selfSigned.ExportCertificatePem() + "\n", KeyFiles.Public);
        KeyFiles.WriteNew(Path.Combine(directory, IssuedFile), "# serial\tname\trole\tnot after\n", KeyFiles.Private);
        var ca = Open(directory);
        ca.WriteRevocations(new CertificateRevocationListBuilder(), 1);
        return ca;
    }

    /// <summary>Opens the CA in <paramref name="directory"/>.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: no CA there, or its files do not match.</exception>
    public static TreeCa Open(string directory)
    {
        string certificate = Path.Combine(directory, CertificateFile);
        string key = Path.Combine(directory, KeyFile);
        if (!File.Exists(certificate) || !File.Exists(key))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"'{directory}' holds no CA ({CertificateFile} and {KeyFile}); make one with `omnistore ca init --dir {directory}`.");
        }

        KeyFiles.CheckPrivate(key);
        try
        {
            return new TreeCa(directory, X509Certificate2.CreateFromPemFile(certificate, key));
        }
        catch (CryptographicException ex)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The CA in '{directory}' cannot be read ({CertificateFile} and {KeyFile} must be a certificate and its key): {ex.Message}", ex);
        }
    }

    /// <summary>Issues a certificate for <paramref name="name"/> with a fresh key.</summary>
    /// <param name="name">The node's name: the certificate's CN and first DNS name.</param>
    /// <param name="role">What the holder is in the tree.</param>
    /// <param name="hosts">More names the certificate answers to, each a DNS name or an IP address (a dialer checks the address's host against them).</param>
    /// <param name="write">A client's write prefixes (none when null or empty).</param>
    /// <param name="read">A client's read prefixes (every name when null or empty).</param>
    /// <param name="days">How long the certificate is valid (at most as long as the CA).</param>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: a bad name, host, prefix or term.</exception>
    public IssuedCertificate Issue(string name, CertificateRole role, IReadOnlyList<string> hosts, IReadOnlyList<string>? write, IReadOnlyList<string>? read, int days)
    {
        CheckName(name, "A certificate's name");
        CheckDays(days);
        if (role != CertificateRole.Client && (write is { Count: > 0 } || read is { Count: > 0 }))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A {role.ToString().ToLowerInvariant()} certificate carries every name (it passes its children's requests, which it checks itself); --write and --read are for client certificates.");
        }

        foreach (string prefix in (write ?? []).Concat(read ?? []))
        {
            if (prefix.Length > NodeRights.MaxPrefixLength || prefix.Any(char.IsControl))
            {
                throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The prefix '{Internal.UntrustedText.Escape(prefix, 80)}' is not a name prefix (at most {NodeRights.MaxPrefixLength} characters, no control characters).");
            }
        }

        if ((write?.Count ?? 0) > NodeRights.MaxPrefixes || (read?.Count ?? 0) > NodeRights.MaxPrefixes)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A certificate carries at most {NodeRights.MaxPrefixes} write and {NodeRights.MaxPrefixes} read prefixes.");
        }

        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        foreach (string host in hosts)
        {
            if (IPAddress.TryParse(host, out var address))
            {
                names.AddIpAddress(address);
            }
            else
            {
                CheckName(host, "A --host");
                names.AddDnsName(host);
            }
        }

        var rights = NodeRights.For(role, write, read);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        request.CertificateExtensions.Add(rights.ToExtension());

        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01); // positive, and its first byte not zero: the DER form is these 16 bytes
        var now = DateTimeOffset.UtcNow;
        var notAfter = now.AddDays(days) < Certificate.NotAfter ? now.AddDays(days) : new DateTimeOffset(Certificate.NotAfter.ToUniversalTime());
        using var certificate = request.Create(Certificate, now.AddMinutes(-5), notAfter, serial);
        string serialHex = Convert.ToHexString(serial);
        File.AppendAllText(
            Path.Combine(Directory, IssuedFile),
            string.Create(CultureInfo.InvariantCulture, $"{serialHex}\t{name}\t{role.ToString().ToLowerInvariant()}\t{certificate.NotAfter.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}\n"));
        return new IssuedCertificate(
            name,
            role,
            serialHex,
            certificate.NotAfter.ToUniversalTime(),
            certificate.ExportCertificatePem() + "\n" + Certificate.ExportCertificatePem() + "\n",
            key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>Every certificate issued, as recorded.</summary>
    public IReadOnlyList<IssuedRecord> Issued()
    {
        var records = new List<IssuedRecord>();
        foreach (string line in File.ReadLines(Path.Combine(Directory, IssuedFile)))
        {
            var fields = line.Split('\t');
            if (line.StartsWith('#') || fields.Length != 4 || !Enum.TryParse<CertificateRole>(fields[2], ignoreCase: true, out var role)
                || !DateTimeOffset.TryParse(fields[3], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var notAfter))
            {
                continue;
            }

            records.Add(new IssuedRecord(fields[0], fields[1], role, notAfter));
        }

        return records;
    }

    /// <summary>The current revocation list.</summary>
    public RevocationList Revocations() => RevocationList.Load(Path.Combine(Directory, RevocationFile), Certificate);

    /// <summary>
    /// Revokes every certificate issued to <paramref name="name"/>, or the one with serial
    /// <paramref name="serialHex"/>; writes the new list (its number one higher) and returns the
    /// serials newly revoked (none when they all were already).
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.NotFound"/>: no certificate was issued under that name or serial.</exception>
    public (IReadOnlyList<string> Revoked, RevocationList List) Revoke(string? name, string? serialHex)
    {
        var issued = Issued();
        var targets = issued.Where(r => name is not null ? r.Name == name : string.Equals(r.SerialHex, serialHex, StringComparison.OrdinalIgnoreCase)).ToList();
        if (targets.Count == 0)
        {
            throw new OmniStoreException(OmniStoreError.NotFound, name is not null
                ? $"No certificate was issued to '{name}' by the CA in '{Directory}'."
                : $"No certificate with serial {serialHex} was issued by the CA in '{Directory}'.");
        }

        var current = Revocations();
        var builder = CertificateRevocationListBuilder.Load(current.Der, out BigInteger number);
        var added = new List<string>();
        foreach (var record in targets)
        {
            if (!current.IsRevoked(record.SerialHex))
            {
                builder.AddEntry(Convert.FromHexString(record.SerialHex), DateTimeOffset.UtcNow);
                added.Add(record.SerialHex);
            }
        }

        if (added.Count > 0)
        {
            WriteRevocations(builder, number + 1);
        }

        return (added, Revocations());
    }

    private void WriteRevocations(CertificateRevocationListBuilder builder, BigInteger number)
    {
        var now = DateTimeOffset.UtcNow;
        byte[] der = builder.Build(Certificate, number, now + RevocationListLifetime, HashAlgorithmName.SHA256, thisUpdate: now);
        string pem = new string(PemEncoding.Write("X509 CRL", der)) + "\n";
        string path = Path.Combine(Directory, RevocationFile);
        string temporary = path + ".new";
        File.WriteAllText(temporary, pem, Encoding.ASCII);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, KeyFiles.Public);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public void Dispose() => Certificate.Dispose();

    /// <summary>A certificate's name: a host name as DNS writes it (letters, digits, '-', '.', '_'; 1 to 64).</summary>
    public static bool IsName(string name) =>
        name.Length is >= 1 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_') && name[0] != '.' && name[^1] != '.';

    private static void CheckName(string name, string what)
    {
        if (!IsName(name))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"{what} '{Internal.UntrustedText.Escape(name, 80)}' is not a name: 1 to 64 letters, digits, '-', '.' or '_'.");
        }
    }

    private static void CheckDays(int days)
    {
        if (days is < 1 or > 36_500)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"--days must be 1 to 36500, not {days}.");
        }
    }
}
