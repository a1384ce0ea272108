using System.CommandLine;
using System.Security.Cryptography;
using OmniStore.Security;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore secret new [FILE]</c>: a tree's shared or relay secret, 32 random bytes written as
/// base64 (a line of text, so it can be copied to each node and read back as the same bytes), in a
/// file only its owner may read (docs/security.md, "A tree with a shared secret").
/// </summary>
internal static class SecretCommand
{
    /// <summary>Random bytes in a new secret.</summary>
    public const int Bytes = 32;

    public static Command Create()
    {
        var command = new Command("secret", "The tree's shared secret (or relay secret) for --secret-file and --relay-secret-file")
        {
            New(),
        };
        return command;
    }

    private static Command New()
    {
        var file = new Argument<string?>("FILE") { Description = "Write the secret here (mode 600); without it, print it", Arity = ArgumentArity.ZeroOrOne };
        var force = new Option<bool>("--force") { Description = "Replace FILE if it exists (every node then needs the new one)" };
        var command = new Command("new", $"Make a new secret: {Bytes} random bytes, base64")
        {
            file, force,
        };
        command.SetGuardedAction((parseResult, _) =>
        {
            string secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(Bytes)) + "\n";
            if (parseResult.GetValue(file) is not { } path)
            {
                Console.Out.Write(secret);
                return Task.FromResult(ExitCodes.Success);
            }

            if (File.Exists(path))
            {
                if (!parseResult.GetValue(force))
                {
                    throw new OmniStoreException(OmniStoreError.InvalidArgument, $"'{path}' exists; give --force to replace it (every node of the tree then needs the new secret).");
                }

                File.Delete(path);
            }

            try
            {
                KeyFiles.WriteNew(path, secret, KeyFiles.Private);
            }
            catch (IOException) when (File.Exists(path))
            {
                throw new OmniStoreException(OmniStoreError.InvalidArgument, $"'{path}' appeared while it was written; run the command again.");
            }

            Console.Error.WriteLine($"A new secret in {path} (mode 600): give it to every node and client of the tree as --secret-file {path}.");
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }
}
