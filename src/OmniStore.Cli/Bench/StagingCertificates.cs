using OmniStore.Security;

namespace OmniStore.Cli.Bench;

/// <summary>
/// A staging run over TLS (<c>--transport tls+tcp|tls+rudp</c>): a tree CA made for the run, a
/// certificate per node (the root, a relay per site, each naming the host it listens on) and one
/// for the participants, which write and read every name: what an operator would set up
/// (docs/security.md, "Secure links"), in the run's scratch directory.
/// </summary>
internal sealed class StagingCertificates
{
    private readonly string _directory;

    private StagingCertificates(string directory) => _directory = directory;

    private string Ca => Path.Combine(_directory, "ca", TreeCa.CertificateFile);

    public static StagingCertificates Make(string scratch, IStagingTopology topology)
    {
        var made = new StagingCertificates(Path.Combine(scratch, "tls"));
        Directory.CreateDirectory(made._directory);
        using var ca = TreeCa.Init(Path.Combine(made._directory, "ca"), "staging", 2);
        made.Write(ca.Issue("root", CertificateRole.Root, [topology.HostOf(-1)], null, null, 2), "root");
        for (int site = 0; site < topology.SiteCount; site++)
        {
            made.Write(ca.Issue($"site-{site}", CertificateRole.Relay, [topology.HostOf(site)], null, null, 2), $"site-{site}");
        }

        made.Write(ca.Issue("participants", CertificateRole.Client, [], [""], null, 2), "participants");
        return made;
    }

    /// <summary>The <c>--tls-*</c> options of the node of <paramref name="site"/> (-1: the root).</summary>
    public string[] NodeArguments(int site) => Arguments(site < 0 ? "root" : $"site-{site}");

    /// <summary>The <c>--tls-*</c> options of the master and the workers.</summary>
    public string[] ParticipantArguments() => Arguments("participants");

    private string[] Arguments(string name) =>
        ["--tls-cert", Path.Combine(_directory, name + ".pem"), "--tls-key", Path.Combine(_directory, name + ".key"), "--tls-ca", Ca];

    private void Write(IssuedCertificate issued, string name)
    {
        KeyFiles.WriteNew(Path.Combine(_directory, name + ".key"), issued.KeyPem, KeyFiles.Private);
        KeyFiles.WriteNew(Path.Combine(_directory, name + ".pem"), issued.CertificatePem, KeyFiles.Public);
    }
}
