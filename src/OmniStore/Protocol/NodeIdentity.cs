using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace OmniStore.Protocol;

/// <summary>
/// A node's key pair (ECDSA P-256) and the id derived from its public key: what a node proves in
/// every handshake (docs/protocol.md, "Node identity"). A root or relay keeps it in its data
/// directory (<c>Node/NodeIdentityFile</c>); a client makes an ephemeral one.
/// </summary>
internal sealed class NodeIdentity : IDisposable
{
    /// <summary>Bytes of a P-256 public key as a SubjectPublicKeyInfo (DER, uncompressed point).</summary>
    public const int PublicKeySize = 91;

    /// <summary>Bytes of a signature: r and s, 32 bytes each (IEEE P1363).</summary>
    public const int SignatureSize = 64;

    /// <summary>The text before the id on the first line of a key file: it names the id without any tool.</summary>
    internal const string IdLinePrefix = "# OmniStore node key (ECDSA P-256), node id ";

    /// <summary>Key files are a few hundred bytes; a bigger one is a wrong file, not a key.</summary>
    public const int MaxTextLength = 4096;

    // Every P-256 SubjectPublicKeyInfo with an uncompressed point starts so (the algorithm and curve
    // OIDs, the bit string's header and 0x04); only the point's 64 bytes follow. A peer's key is
    // compared with it before anything parses the key.
    private static ReadOnlySpan<byte> P256KeyPrefix =>
    [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
        0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
    ];

    private readonly ECDsa _key;

    // ECDsa makes no promise about concurrent use of one instance; handshakes of many connections sign at once.
    private readonly Lock _signing = new();

    private NodeIdentity(ECDsa key, byte[] publicKey)
    {
        _key = key;
        PublicKey = publicKey;
        Id = NodeId.FromPublicKey(publicKey);
    }

    /// <summary>The node's id, derived from <see cref="PublicKey"/>.</summary>
    public NodeId Id { get; }

    /// <summary>The public key as a SubjectPublicKeyInfo (DER, <see cref="PublicKeySize"/> bytes), as it is sent in the handshake.</summary>
    public byte[] PublicKey { get; }

    /// <summary>A new key pair: a client's ephemeral identity, or a node's first.</summary>
    public static NodeIdentity Create()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new NodeIdentity(key, key.ExportSubjectPublicKeyInfo());
    }

    /// <summary>
    /// The identity of a node given a TLS certificate (docs/tls.md): the certificate's key is the
    /// node key, so the id the handshake proves is the key TLS verified.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: the certificate has no ECDSA P-256 private key.</exception>
    public static NodeIdentity FromCertificate(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        var key = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(certificate);
        byte[]? publicKey = key?.ExportSubjectPublicKeyInfo();
        if (key is null || publicKey is null || publicKey.Length != PublicKeySize || !publicKey.AsSpan().StartsWith(P256KeyPrefix))
        {
            key?.Dispose();
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The certificate '{certificate.Subject}' has no ECDSA P-256 private key (make it with `omnistore ca issue`).");
        }

        return new NodeIdentity(key, publicKey);
    }

    /// <summary>Signs <paramref name="data"/> (ECDSA P-256 over SHA-256): <see cref="SignatureSize"/> bytes.</summary>
    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        lock (_signing)
        {
            return _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
    }

    /// <summary>
    /// Why a peer that claims <paramref name="claimed"/> and sent <paramref name="publicKey"/> and
    /// <paramref name="signature"/> over <paramref name="data"/> is not that node, or null if it
    /// proved it. The cheap checks (the key's form, the id) come before the key is parsed.
    /// </summary>
    public static string? CheckProof(ReadOnlySpan<byte> publicKey, NodeId claimed, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != PublicKeySize || !publicKey.StartsWith(P256KeyPrefix))
        {
            return "its public key is not an uncompressed ECDSA P-256 key";
        }

        var derived = NodeId.FromPublicKey(publicKey);
        if (derived != claimed)
        {
            return $"it says it is node {claimed}, but its public key is that of node {derived}";
        }

        if (signature.Length != SignatureSize)
        {
            return $"its signature has {signature.Length} bytes, not {SignatureSize}";
        }

        using var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(publicKey, out _);
        }
        catch (CryptographicException)
        {
            return "its public key is not a point on the P-256 curve";
        }

        return key.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
            ? null
            : $"its signature of the handshake does not hold for the key of node {claimed}";
    }

    /// <summary>
    /// The key file's text: a first line that names the id (a check on load, and for people), then
    /// the private key as PKCS#8 in PEM, which OpenSSL reads too (<c>openssl pkey -in node.key</c>).
    /// </summary>
    public string ToKeyFileText()
    {
        var text = new StringBuilder();
        text.Append(IdLinePrefix).Append(Id.ToString()).Append('\n');
        text.Append(_key.ExportPkcs8PrivateKeyPem()).Append('\n');
        return text.ToString();
    }

    /// <summary>
    /// Reads a key file's text (see <see cref="ToKeyFileText"/>). False, with what is wrong, if it is
    /// not one: no id line, no PEM private key or other text around it, a key of another kind, or a
    /// key whose id is not the one its first line names (a change to the key's bytes that still
    /// parses would otherwise be a new identity, silently) or whose halves do not belong together.
    /// </summary>
    public static bool TryReadKeyFile(string text, [NotNullWhen(true)] out NodeIdentity? identity, [NotNullWhen(false)] out string? problem)
    {
        identity = null;
        problem = null;
        if (text.Length > MaxTextLength)
        {
            problem = $"it holds {text.Length} characters; a key file has at most {MaxTextLength}";
            return false;
        }

        int lineEnd = text.IndexOf('\n', StringComparison.Ordinal);
        if (!text.StartsWith(IdLinePrefix, StringComparison.Ordinal) || lineEnd < 0
            || !NodeId.TryParse(text[IdLinePrefix.Length..lineEnd].TrimEnd('\r'), out var named))
        {
            problem = $"its first line is not '{IdLinePrefix}' and a node id";
            return false;
        }

        string rest = text[(lineEnd + 1)..];
        if (!PemEncoding.TryFind(rest, out var fields)
            || !rest[fields.Label].Equals("PRIVATE KEY", StringComparison.Ordinal)
            || !rest[..fields.Location.Start].AsSpan().IsWhiteSpace()
            || !rest[fields.Location.End..].AsSpan().IsWhiteSpace())
        {
            problem = "it does not hold a PEM private key (BEGIN PRIVATE KEY) and nothing else";
            return false;
        }

        var der = new byte[fields.DecodedDataLength];
        if (!Convert.TryFromBase64Chars(rest.AsSpan(fields.Base64Data), der, out int length) || length != der.Length)
        {
            problem = "its PEM block is not valid base64";
            return false;
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportPkcs8PrivateKey(der, out int read);
            var publicKey = key.ExportSubjectPublicKeyInfo();
            if (read != der.Length || publicKey.Length != PublicKeySize || !publicKey.AsSpan().StartsWith(P256KeyPrefix))
            {
                problem = read != der.Length ? "its private key has trailing bytes" : "its key is not an ECDSA P-256 key";
                key.Dispose();
                return false;
            }

            var candidate = new NodeIdentity(key, publicKey);
            if (candidate.Id != named)
            {
                problem = $"its key is that of node {candidate.Id}, but its first line names node {named}";
                candidate.Dispose();
                return false;
            }

            // A private half that does not go with the stored public half would sign what no peer verifies.
            var probe = "omnistore/key-check"u8;
            if (CheckProof(publicKey, named, probe, candidate.Sign(probe)) is { } mismatch)
            {
                problem = $"its private key does not match its public key ({mismatch})";
                candidate.Dispose();
                return false;
            }

            identity = candidate;
            return true;
        }
        catch (CryptographicException ex)
        {
            key.Dispose();
            problem = $"its private key cannot be read ({ex.Message})";
            return false;
        }
    }

    public void Dispose() => _key.Dispose();
}
