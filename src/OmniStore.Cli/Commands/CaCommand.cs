using System.CommandLine;
using System.Globalization;
using OmniStore.Security;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore ca init|issue|revoke</c>: the tree's certificate authority (docs/tls.md, "Files and
/// commands"; docs/security.md walks through setting one up).
/// </summary>
internal static class CaCommand
{
    public static Command Create()
    {
        var command = new Command("ca", "The tree's certificate authority: make it, issue node certificates, revoke them (docs/security.md)")
        {
            Init(),
            Issue(),
            Revoke(),
        };
        return command;
    }

    private static Option<string> DirectoryOption() => new("--dir")
    {
        Description = "The CA's directory (ca.pem, ca.key, ca.crl, issued.tsv); keep it off the nodes",
        Required = true,
    };

    private static Option<int> DaysOption(int days) => new("--days")
    {
        Description = "How long the certificate is valid, in days",
        DefaultValueFactory = _ => days,
    };

    private static Command Init()
    {
        var directory = DirectoryOption();
        var name = new Option<string>("--name") { Description = "The CA's name (its certificate's CN)", DefaultValueFactory = _ => "omnistore-tree" };
        var days = DaysOption(3650);
        var command = new Command("init", "Make a new tree CA: an ECDSA P-256 key (ca.key, mode 600) and its self-signed certificate (ca.pem), an empty revocation list (ca.crl)")
        {
            directory, name, days,
        };
        command.SetGuardedAction((parseResult, _) =>
        {
            string dir = parseResult.GetValue(directory)!;
            using var ca = TreeCa.Init(dir, parseResult.GetValue(name)!, parseResult.GetValue(days));
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"CA '{ca.Certificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, false)}' in {dir}: {Path.Combine(dir, TreeCa.CertificateFile)} (give it to every node as --tls-ca), {Path.Combine(dir, TreeCa.KeyFile)} (keep it here), valid until {ca.Certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}"));
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static Command Issue()
    {
        var directory = DirectoryOption();
        var role = new Option<string>("--role") { Description = "root, relay or client", Required = true };
        role.AcceptOnlyFromAmong("root", "relay", "client");
        var name = new Option<string>("--name") { Description = "The node's name: its certificate's CN and DNS name (a dialer checks the host it dialed against the certificate's names)", Required = true };
        var hosts = new Option<string[]>("--host") { Description = "Another DNS name or IP address the node is reached at (repeat for more)", AllowMultipleArgumentsPerToken = false };
        var write = new Option<string[]>("--write") { Description = "A client may Put, bind and remove names under this prefix (repeat for more; none by default)" };
        var read = new Option<string[]>("--read") { Description = "A client may Get names under this prefix (repeat for more; every name by default)" };
        var days = DaysOption(365);
        var output = new Option<string?>("--out") { Description = "Write PREFIX.pem and PREFIX.key (default: NAME.pem and NAME.key in the current directory)" };
        var command = new Command("issue", "Issue a node certificate and its key, signed by the tree CA; the rights (role, write and read prefixes) are in the certificate")
        {
            directory, role, name, hosts, write, read, days, output,
        };
        command.SetGuardedAction((parseResult, _) =>
        {
            using var ca = TreeCa.Open(parseResult.GetValue(directory)!);
            var certificateRole = Enum.Parse<CertificateRole>(parseResult.GetValue(role)!, ignoreCase: true);
            string[] writes = parseResult.GetValue(write) ?? [];
            string[] reads = parseResult.GetValue(read) ?? [];
            var issued = ca.Issue(parseResult.GetValue(name)!, certificateRole, parseResult.GetValue(hosts) ?? [], writes, reads, parseResult.GetValue(days));
            string prefix = parseResult.GetValue(output) ?? issued.Name;
            string certificate = prefix + ".pem";
            string key = prefix + ".key";
            WriteNew(key, issued.KeyPem, KeyFiles.Private);
            WriteNew(certificate, issued.CertificatePem, KeyFiles.Public);
            var rights = NodeRights.For(certificateRole, writes, reads);
            string what = certificateRole == CertificateRole.Client
                ? $"client: writes {NodeRights.Describe(rights.Write)}, reads {NodeRights.Describe(rights.Read)}"
                : certificateRole.ToString().ToLowerInvariant();
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{certificate} and {key} ({what}), serial {issued.SerialHex}, valid until {issued.NotAfter:yyyy-MM-dd}"));
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static Command Revoke()
    {
        var directory = DirectoryOption();
        var name = new Option<string?>("--name") { Description = "Revoke every certificate issued to this name" };
        var serial = new Option<string?>("--serial") { Description = "Revoke the certificate with this serial number (hexadecimal, as issue printed it)" };
        var command = new Command("revoke", "Revoke certificates: ca.crl gets them, with a higher number; give the new ca.crl to the root (--tls-crl), which sends it down the tree")
        {
            directory, name, serial,
        };
        command.Validators.Add(result =>
        {
            if ((result.GetValue(name) is null) == (result.GetValue(serial) is null))
            {
                result.AddError("give --name or --serial, one of them");
            }
        });
        command.SetGuardedAction((parseResult, _) =>
        {
            using var ca = TreeCa.Open(parseResult.GetValue(directory)!);
            var (revoked, list) = ca.Revoke(parseResult.GetValue(name), parseResult.GetValue(serial));
            Console.Out.WriteLine(revoked.Count == 0
                ? string.Create(CultureInfo.InvariantCulture, $"already revoked; {Path.Combine(ca.Directory, TreeCa.RevocationFile)} is unchanged (number {list.Number}, {list.Count} revoked)")
                : string.Create(CultureInfo.InvariantCulture, $"revoked {string.Join(", ", revoked)}; {Path.Combine(ca.Directory, TreeCa.RevocationFile)} is number {list.Number} ({list.Count} revoked)"));
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static void WriteNew(string path, string text, UnixFileMode mode)
    {
        try
        {
            KeyFiles.WriteNew(path, text, mode);
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"'{path}' exists; remove it or give --out another prefix.");
        }
    }
}
