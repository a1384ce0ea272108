using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using OmniStore.Security;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Security;

/// <summary>
/// The tree CA (docs/tls.md, "Files and commands"): what it writes, checked by OpenSSL's own
/// command line (`openssl verify`, `openssl crl`), a reference that someone else wrote; the rights
/// extension read back; revocation lists signed, numbered and refused when not the CA's.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // key files and their modes
public sealed class TreeCaTests : IDisposable
{
    private readonly TempDirectory _dir = new("omnistore-ca");

    public void Dispose() => _dir.Dispose();

    private string CaDir => _dir.Sub("ca");

    private string Write(IssuedCertificate issued)
    {
        string certificate = Path.Combine(_dir.Path, issued.Name + ".pem");
        File.WriteAllText(certificate, issued.CertificatePem);
        string key = Path.Combine(_dir.Path, issued.Name + ".key");
        File.WriteAllText(key, issued.KeyPem);
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return certificate;
    }

    private static (int Code, string Output) Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }

    /// <summary>Whether openssl is here; under CI it must be (eng/test.sh installs it), so its tests fail rather than skip.</summary>
    private static bool HasOpenSsl => File.Exists("/usr/bin/openssl") || Environment.GetEnvironmentVariable("CI") == "true";

    [Fact]
    public void Init_WritesTheCaWithItsKeyPrivate_AndRefusesToReplaceIt()
    {
        using var ca = TreeCa.Init(CaDir, "tree-1", 3650);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(CaDir, TreeCa.KeyFile)));
        Assert.True(ca.Certificate.HasPrivateKey);
        Assert.Contains("CN=tree-1", ca.Certificate.Subject, StringComparison.Ordinal);
        Assert.Equal(0, ca.Revocations().Count);
        Assert.Equal(1, ca.Revocations().Number);

        var again = Assert.Throws<OmniStoreException>(() => TreeCa.Init(CaDir, "tree-2", 3650));
        Assert.Equal(OmniStoreError.InvalidArgument, again.Error);
        Assert.Contains("holds a CA already", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IssuedCertificates_VerifyWithOpenSsl_AndCarryTheirNamesAndRights()
    {
        Assert.SkipUnless(HasOpenSsl, "openssl is not installed (apt-get install openssl)");
        using var ca = TreeCa.Init(CaDir, "tree", 3650);
        var relay = ca.Issue("relay-a", CertificateRole.Relay, ["relay-a.example.org", "198.18.0.2"], null, null, 30);
        var worker = ca.Issue("worker-7", CertificateRole.Client, [], ["results/"], ["inputs/", "shared/"], 30);
        string relayPem = Write(relay);
        string workerPem = Write(worker);

        foreach (string pem in new[] { relayPem, workerPem })
        {
            var (code, output) = Run("openssl", "verify", "-CAfile", Path.Combine(CaDir, TreeCa.CertificateFile), "-purpose", "sslserver", pem);
            Assert.True(code == 0, output);
            (code, output) = Run("openssl", "verify", "-CAfile", Path.Combine(CaDir, TreeCa.CertificateFile), "-purpose", "sslclient", pem);
            Assert.True(code == 0, output);
        }

        var (_, text) = Run("openssl", "x509", "-in", relayPem, "-noout", "-text");
        Assert.Contains("DNS:relay-a, DNS:relay-a.example.org, IP Address:198.18.0.2", text, StringComparison.Ordinal);
        Assert.Contains("ASN1 OID: prime256v1", text, StringComparison.Ordinal);
        Assert.Contains("TLS Web Server Authentication, TLS Web Client Authentication", text, StringComparison.Ordinal);

        using var read = X509Certificate2.CreateFromPem(File.ReadAllText(workerPem)); // the first certificate of the file: the node's
        var rights = NodeRights.TryRead(read, out string? problem);
        Assert.True(rights is not null, problem);
        Assert.Equal(CertificateRole.Client, rights.Role);
        Assert.Equal(["results/"], rights.Write);
        Assert.Equal(["inputs/", "shared/"], rights.Read);
        Assert.True(rights.MayWrite("results/run-1"));
        Assert.False(rights.MayWrite("inputs/x"));
        Assert.False(rights.MayWrite("results-old/x"));
        Assert.True(rights.MayRead("shared/a"));
        Assert.False(rights.MayRead("results/run-1"));
        Assert.False(rights.MayRelay);

        Assert.Equal(["relay-a", "worker-7"], ca.Issued().Select(r => r.Name));
    }

    [Fact]
    public void Revoke_WritesASignedListWithAHigherNumber_ThatOpenSslAndTheNodeRead()
    {
        using var ca = TreeCa.Init(CaDir, "tree", 3650);
        var relay = ca.Issue("relay-a", CertificateRole.Relay, [], null, null, 30);
        var other = ca.Issue("relay-b", CertificateRole.Relay, [], null, null, 30);
        var (revoked, list) = ca.Revoke("relay-a", null);
        Assert.Equal([relay.SerialHex], revoked);
        Assert.Equal(2, list.Number);
        Assert.True(list.IsRevoked(relay.SerialHex));
        Assert.False(list.IsRevoked(other.SerialHex));

        var (again, same) = ca.Revoke("relay-a", null); // already revoked: nothing new, no new list
        Assert.Empty(again);
        Assert.Equal(2, same.Number);

        var (bySerial, third) = ca.Revoke(null, other.SerialHex.ToLowerInvariant());
        Assert.Equal([other.SerialHex], bySerial);
        Assert.Equal(3, third.Number);
        Assert.Equal(2, third.Count);

        Assert.Equal(OmniStoreError.NotFound, Assert.Throws<OmniStoreException>(() => ca.Revoke("nobody", null)).Error);

        if (HasOpenSsl)
        {
            var (code, output) = Run("openssl", "crl", "-in", Path.Combine(CaDir, TreeCa.RevocationFile), "-CAfile", Path.Combine(CaDir, TreeCa.CertificateFile), "-noout", "-text");
            Assert.True(code == 0, output);
            Assert.Contains("verify OK", output, StringComparison.Ordinal);
            Assert.Contains($"Serial Number: {relay.SerialHex}", output, StringComparison.Ordinal);
            Assert.Contains($"Serial Number: {other.SerialHex}", output, StringComparison.Ordinal);
            Assert.Contains("X509v3 CRL Number: \n                3", output.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ARevocationListOfAnotherCaOrAltered_IsRefused()
    {
        using var ca = TreeCa.Init(CaDir, "tree", 3650);
        using var stranger = TreeCa.Init(_dir.Sub("stranger"), "tree", 3650); // same name, another key
        ca.Issue("relay-a", CertificateRole.Relay, [], null, null, 30);
        ca.Revoke("relay-a", null);
        var der = ca.Revocations().Der;

        var foreign = Assert.Throws<OmniStoreException>(() => RevocationList.Parse(der, stranger.Certificate));
        Assert.Equal(OmniStoreError.InvalidArgument, foreign.Error);
        Assert.Contains("signature is not the tree CA's", foreign.Message, StringComparison.Ordinal);

        for (int at = 0; at < der.Length; at += 7)
        {
            var altered = (byte[])der.Clone();
            altered[at] ^= 0x20;
            var ex = Record.Exception(() => RevocationList.Parse(altered, ca.Certificate));
            var refused = Assert.IsType<OmniStoreException>(ex);
            Assert.Equal(OmniStoreError.InvalidArgument, refused.Error);
        }
    }

    [Fact]
    public void AKeyFileOthersCanRead_IsRefused()
    {
        using (TreeCa.Init(CaDir, "tree", 3650))
        {
        }

        File.SetUnixFileMode(Path.Combine(CaDir, TreeCa.KeyFile), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var ex = Assert.Throws<OmniStoreException>(() => TreeCa.Open(CaDir));
        Assert.Equal(OmniStoreError.InvalidArgument, ex.Error);
        Assert.Contains("mode 644", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("relay a")]
    [InlineData("relay\u001b[31m")]
    [InlineData("a:b")]
    public void ABadName_IsRefused(string name)
    {
        using var ca = TreeCa.Init(CaDir, "tree", 3650);
        var ex = Assert.Throws<OmniStoreException>(() => ca.Issue(name, CertificateRole.Client, [], null, null, 30));
        Assert.Equal(OmniStoreError.InvalidArgument, ex.Error);
        Assert.DoesNotContain('\u001b', ex.Message);
    }

    [Fact]
    public void RelayCertificates_TakeNoPrefixes()
    {
        using var ca = TreeCa.Init(CaDir, "tree", 3650);
        var ex = Assert.Throws<OmniStoreException>(() => ca.Issue("relay-a", CertificateRole.Relay, [], ["x/"], null, 30));
        Assert.Contains("--write and --read are for client certificates", ex.Message, StringComparison.Ordinal);
    }
}
