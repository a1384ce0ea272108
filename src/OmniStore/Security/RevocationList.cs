using System.Collections.Frozen;
using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OmniStore.Security;

/// <summary>
/// The tree CA's revocation list (an X.509 CRL, RFC 5280 section 5) as a node holds it: the serial
/// numbers revoked, the list's number (each <c>omnistore ca revoke</c> raises it) and the DER
/// bytes, to pass on down the tree. Read only after its signature checks against the CA's key;
/// .NET's chain building cannot be handed a CRL, so the list is read here (System.Formats.Asn1)
/// and checked against every peer certificate at the TLS handshake.
/// </summary>
internal sealed class RevocationList
{
    /// <summary>A list larger than this is refused (a tree revokes few certificates).</summary>
    public const int MaxBytes = 1 << 20;

    private const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";
    private const string CrlNumberOid = "2.5.29.20";

    private readonly FrozenSet<string> _revoked;

    private RevocationList(byte[] der, BigInteger number, DateTimeOffset thisUpdate, DateTimeOffset? nextUpdate, FrozenSet<string> revoked)
    {
        Der = der;
        Number = number;
        ThisUpdate = thisUpdate;
        NextUpdate = nextUpdate;
        _revoked = revoked;
    }

    /// <summary>The list as the CA signed it (DER).</summary>
    public byte[] Der { get; }

    /// <summary>The CRL number: a later list has a higher one.</summary>
    public BigInteger Number { get; }

    public DateTimeOffset ThisUpdate { get; }

    public DateTimeOffset? NextUpdate { get; }

    /// <summary>How many certificates it revokes.</summary>
    public int Count => _revoked.Count;

    /// <summary>Whether <paramref name="certificate"/> is revoked.</summary>
    public bool IsRevoked(X509Certificate2 certificate) => _revoked.Contains(Convert.ToHexString(certificate.SerialNumberBytes.Span));

    /// <summary>Whether the serial number <paramref name="serialHex"/> (hexadecimal, big-endian) is revoked.</summary>
    public bool IsRevoked(string serialHex) => _revoked.Contains(serialHex.ToUpperInvariant());

    /// <summary>Reads a list from a file: PEM (<c>-----BEGIN X509 CRL-----</c>) or DER.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>: the file is not a list the CA signed.</exception>
    public static RevocationList Load(string path, X509Certificate2 ca)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The revocation list '{path}' does not exist.");
        }

        if (info.Length > 2 * MaxBytes)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The revocation list '{path}' holds {info.Length} bytes; a list is at most {MaxBytes}.");
        }

        var bytes = File.ReadAllBytes(path);
        if (PemEncoding.TryFind(System.Text.Encoding.ASCII.GetString(bytes), out var fields))
        {
            string text = System.Text.Encoding.ASCII.GetString(bytes);
            if (text[fields.Label] != "X509 CRL")
            {
                throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The file '{path}' holds a PEM '{text[fields.Label]}', not an X509 CRL.");
            }

            bytes = Convert.FromBase64String(text[fields.Base64Data]);
        }

        return Parse(bytes, ca, $"the revocation list '{path}'");
    }

    /// <summary>Reads a list from its DER bytes and checks that <paramref name="ca"/> signed it.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>, naming <paramref name="what"/>, when it is not.</exception>
    public static RevocationList Parse(ReadOnlySpan<byte> der, X509Certificate2 ca, string what = "the revocation list")
    {
        if (der.Length > MaxBytes)
        {
            throw Invalid(what, $"it holds {der.Length} bytes; a list is at most {MaxBytes}");
        }

        try
        {
            var outer = new AsnReader(der.ToArray(), AsnEncodingRules.DER);
            var list = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            var tbsBytes = list.ReadEncodedValue();
            string algorithm = list.ReadSequence().ReadObjectIdentifier();
            byte[] signature = list.ReadBitString(out int unused);
            list.ThrowIfNotEmpty();
            if (algorithm != EcdsaWithSha256 || unused != 0)
            {
                throw Invalid(what, $"it is signed with {algorithm}, not ECDSA with SHA-256");
            }

            using var key = ca.GetECDsaPublicKey() ?? throw Invalid(what, "the CA's key is not an ECDSA key");
            if (!key.VerifyData(tbsBytes.Span, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
            {
                throw Invalid(what, "its signature is not the tree CA's");
            }

            return ReadTbs(tbsBytes, ca, der.ToArray(), what);
        }
        catch (AsnContentException ex)
        {
            throw Invalid(what, $"it is not a well-formed X.509 CRL ({ex.Message})");
        }
    }

    private static RevocationList ReadTbs(ReadOnlyMemory<byte> tbsBytes, X509Certificate2 ca, byte[] der, string what)
    {
        var tbs = new AsnReader(tbsBytes, AsnEncodingRules.DER).ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
        {
            tbs.ReadInteger(); // version v2
        }

        tbs.ReadSequence(); // the signature algorithm again
        var issuer = new X500DistinguishedName(tbs.ReadEncodedValue().Span);
        if (!issuer.RawData.AsSpan().SequenceEqual(ca.SubjectName.RawData))
        {
            throw Invalid(what, $"it was issued by '{issuer.Name}', not by the tree CA '{ca.Subject}'");
        }

        var thisUpdate = ReadTime(tbs);
        DateTimeOffset? nextUpdate = null;
        if (tbs.HasData && (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) || tbs.PeekTag().HasSameClassAndValue(Asn1Tag.GeneralizedTime)))
        {
            nextUpdate = ReadTime(tbs);
        }

        var revoked = new HashSet<string>(StringComparer.Ordinal);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData)
            {
                var entry = entries.ReadSequence();
                revoked.Add(Convert.ToHexString(entry.ReadIntegerBytes().Span));
            }
        }

        BigInteger number = 0;
        if (tbs.HasData)
        {
            var extensions = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
            while (extensions.HasData)
            {
                var extension = extensions.ReadSequence();
                string oid = extension.ReadObjectIdentifier();
                if (extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
                {
                    extension.ReadBoolean();
                }

                var value = extension.ReadOctetString();
                if (oid == CrlNumberOid)
                {
                    number = new AsnReader(value, AsnEncodingRules.DER).ReadInteger();
                }
            }
        }

        tbs.ThrowIfNotEmpty();
        return new RevocationList(der, number, thisUpdate, nextUpdate, revoked.ToFrozenSet(StringComparer.Ordinal));
    }

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();

    private static OmniStoreException Invalid(string what, string why) =>
        new(OmniStoreError.InvalidArgument, $"{char.ToUpperInvariant(what[0])}{what[1..]} is refused: {why}.");
}
