using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace OmniStore.Security;

/// <summary>What a tree certificate makes its holder: a client, a relay or the root.</summary>
internal enum CertificateRole
{
    Client = 1,
    Relay = 2,
    Root = 3,
}

/// <summary>
/// The rights a tree certificate grants (docs/tls.md, "Rights"): its role, and the name prefixes
/// under which it may write and read. A relay or root certificate may do everything: it carries
/// its children's requests, which it checked itself. Kept in a certificate extension of ours:
/// <code>
/// OmniStoreRights ::= SEQUENCE {
///     version INTEGER (1),
///     role    INTEGER { client(1), relay(2), root(3) },
///     write   SEQUENCE OF UTF8String,
///     read    SEQUENCE OF UTF8String }
/// </code>
/// </summary>
internal sealed record NodeRights(CertificateRole Role, IReadOnlyList<string> Write, IReadOnlyList<string> Read)
{
    /// <summary>The extension's OID: an arc under 2.25 (a UUID, so it needs no registration).</summary>
    public const string ExtensionOid = "2.25.45080623736568470385162584228162088608.1";

    /// <summary>Prefixes in one list, at most; bytes of one prefix, at most.</summary>
    public const int MaxPrefixes = 64;

    public const int MaxPrefixLength = 1024;

    /// <summary>The rights of a relay or root certificate, or a client's with the prefixes given (read: everything when none is).</summary>
    public static NodeRights For(CertificateRole role, IReadOnlyList<string>? write = null, IReadOnlyList<string>? read = null) =>
        role == CertificateRole.Client
            ? new NodeRights(role, write ?? [], read is null or { Count: 0 } ? [""] : read)
            : new NodeRights(role, [""], [""]);

    /// <summary>Whether <paramref name="name"/> may be written (Put, Bind, Delete).</summary>
    public bool MayWrite(string name) => Role != CertificateRole.Client || Covers(Write, name);

    /// <summary>Whether <paramref name="name"/> may be read (Get, Stat, List).</summary>
    public bool MayRead(string name) => Role != CertificateRole.Client || Covers(Read, name);

    /// <summary>Whether the holder may be a relay (a relay child, UPDATE and PUSH_CHUNK from a parent).</summary>
    public bool MayRelay => Role != CertificateRole.Client;

    private static bool Covers(IReadOnlyList<string> prefixes, string name)
    {
        foreach (string prefix in prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The prefixes as the refusals and logs name them.</summary>
    public static string Describe(IReadOnlyList<string> prefixes) =>
        prefixes.Count == 0 ? "no name" : prefixes.Contains("") ? "every name" : string.Join(", ", prefixes);

    /// <summary>The extension, not critical (other software may ignore it).</summary>
    public X509Extension ToExtension()
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(1);
            writer.WriteInteger((int)Role);
            WriteList(writer, Write);
            WriteList(writer, Read);
        }

        return new X509Extension(ExtensionOid, writer.Encode(), critical: false);
    }

    private static void WriteList(AsnWriter writer, IReadOnlyList<string> prefixes)
    {
        using (writer.PushSequence())
        {
            foreach (string prefix in prefixes)
            {
                writer.WriteCharacterString(UniversalTagNumber.UTF8String, prefix);
            }
        }
    }

    /// <summary>The rights in <paramref name="certificate"/>; null with a reason when it has none or they are malformed.</summary>
    public static NodeRights? TryRead(X509Certificate2 certificate, out string? problem)
    {
        problem = null;
        var extension = certificate.Extensions[ExtensionOid];
        if (extension is null)
        {
            problem = "it carries no OmniStore rights (not issued by `omnistore ca issue`)";
            return null;
        }

        try
        {
            var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            if (!sequence.TryReadInt32(out int version) || version != 1)
            {
                problem = "its OmniStore rights are of an unknown version";
                return null;
            }

            if (!sequence.TryReadInt32(out int role) || role is < 1 or > 3)
            {
                problem = "its OmniStore rights name an unknown role";
                return null;
            }

            var write = ReadList(sequence);
            var read = ReadList(sequence);
            sequence.ThrowIfNotEmpty();
            if (write is null || read is null)
            {
                problem = $"its OmniStore rights list more than {MaxPrefixes} prefixes or one longer than {MaxPrefixLength} bytes";
                return null;
            }

            return new NodeRights((CertificateRole)role, write, read);
        }
        catch (AsnContentException)
        {
            problem = "its OmniStore rights are malformed";
            return null;
        }
    }

    private static List<string>? ReadList(AsnReader parent)
    {
        var list = parent.ReadSequence();
        var prefixes = new List<string>();
        while (list.HasData)
        {
            string prefix = list.ReadCharacterString(UniversalTagNumber.UTF8String);
            if (prefixes.Count == MaxPrefixes || prefix.Length > MaxPrefixLength)
            {
                return null;
            }

            prefixes.Add(prefix);
        }

        return prefixes;
    }
}
