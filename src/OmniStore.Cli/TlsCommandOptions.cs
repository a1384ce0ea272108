using System.CommandLine;

namespace OmniStore.Cli;

/// <summary>
/// <c>--tls-cert</c>, <c>--tls-key</c>, <c>--tls-ca</c>, <c>--tls-crl</c>: the certificate, key and
/// tree CA a node or client uses on its <c>tls+</c> links (docs/tls.md); the first three go together.
/// </summary>
internal sealed class TlsCommandOptions
{
    public Option<string?> Certificate { get; } = new("--tls-cert")
    {
        Description = "This node's certificate (PEM, from `omnistore ca issue`), for tls+tcp:// and tls+rudp:// links; its key becomes the node's key",
        HelpName = "FILE",
        Validators = { CommandLineValidators.NonEmpty },
    };

    public Option<string?> Key { get; } = new("--tls-key")
    {
        Description = "The certificate's private key (PEM, mode 600: refused when others can read it)",
        HelpName = "FILE",
        Validators = { CommandLineValidators.NonEmpty },
    };

    public Option<string?> Ca { get; } = new("--tls-ca")
    {
        Description = "The tree CA's certificate (ca.pem): the only one a TLS peer's certificate may come from",
        HelpName = "FILE",
        Validators = { CommandLineValidators.NonEmpty },
    };

    public Option<string?> RevocationList { get; } = new("--tls-crl")
    {
        Description = "The tree CA's revocation list (ca.crl from `omnistore ca revoke`): certificates on it are refused",
        HelpName = "FILE",
        Validators = { CommandLineValidators.NonEmpty },
    };

    /// <summary>Adds the options to <paramref name="command"/>, with the check that the first three come together.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Certificate);
        command.Options.Add(Key);
        command.Options.Add(Ca);
        command.Options.Add(RevocationList);
        command.Validators.Add(result =>
        {
            int given = new[] { result.GetValue(Certificate), result.GetValue(Key), result.GetValue(Ca) }.Count(v => v is not null);
            if (given is not (0 or 3))
            {
                result.AddError("--tls-cert, --tls-key and --tls-ca go together: give all three (or none).");
            }
            else if (given == 0 && result.GetValue(RevocationList) is not null)
            {
                result.AddError("--tls-crl needs --tls-cert, --tls-key and --tls-ca.");
            }
        });
    }

    /// <summary>The files given, or null when none were.</summary>
    public TlsOptions? Read(ParseResult parseResult) =>
        parseResult.GetValue(Certificate) is { } certificate
            ? new TlsOptions
            {
                CertificateFile = Path.GetFullPath(certificate),
                KeyFile = Path.GetFullPath(parseResult.GetValue(Key)!),
                CaFile = Path.GetFullPath(parseResult.GetValue(Ca)!),
                RevocationListFile = parseResult.GetValue(RevocationList) is { } crl ? Path.GetFullPath(crl) : null,
            }
            : null;
}
