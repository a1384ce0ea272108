using System.CommandLine;
using OmniStore.Cli.Progress;

namespace OmniStore.Cli.Commands;

/// <summary><c>omnistore get NAME [-o FILE|-]</c>: writes an object to a file or stdout.</summary>
internal static class GetCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The object's name" };
        var output = new Option<string>("--output", "-o")
        {
            Description = "The file to write (replaced only once the whole object was read), or - for standard output",
            HelpName = "FILE",
            DefaultValueFactory = _ => "-",
            Validators = { CommandLineValidators.NonEmpty },
        };
        var quiet = ProgressOptions.Quiet();
        var store = new StoreConnectionOptions();

        var command = new Command("get", "Write the object bound to a name to a file or standard output")
        {
            name,
            output,
            quiet,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string objectName = parseResult.GetRequiredValue(name);
            string path = parseResult.GetRequiredValue(output);
            ObjectName.Validate(objectName);

            await using var client = await store.OpenAsync(parseResult, cancellationToken);
            var style = TransferProgress.Choose(parseResult.GetValue(quiet));

            // The length is only for the display: if the name is rebound meanwhile, the Get still
            // reads one whole version, and the display is merely off.
            long? total = style == ProgressStyle.None ? null : (await client.StatAsync(objectName, cancellationToken))?.Length;
            string label = ProgressOptions.Label("get", objectName);

            async Task<long> CopyTo(Stream destination)
            {
                var counting = new CountingStream(destination);
                return await TransferProgress.TrackAsync(style, label, total, () => counting.Transferred, async () => await client.GetAsync(objectName, counting, cancellationToken));
            }

            if (path == "-")
            {
                // GetAsync resolves the name before writing a byte, so a missing name leaves stdout empty.
                await using var stdout = Console.OpenStandardOutput();
                await CopyTo(stdout);
                await stdout.FlushAsync(cancellationToken);
            }
            else
            {
                await AtomicFile.WriteAsync(path, CopyTo);
            }

            return ExitCodes.Success;
        });

        return command;
    }
}
