using System.CommandLine;

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
        var store = new StoreConnectionOptions();

        var command = new Command("get", "Write the object bound to a name to a file or standard output")
        {
            name,
            output,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string objectName = parseResult.GetRequiredValue(name);
            string path = parseResult.GetRequiredValue(output);
            ObjectName.Validate(objectName);

            await using var client = store.Open(parseResult);
            if (path == "-")
            {
                // GetAsync resolves the name before writing a byte, so a missing name leaves stdout empty.
                await using var stdout = Console.OpenStandardOutput();
                await client.GetAsync(objectName, stdout, cancellationToken);
                await stdout.FlushAsync(cancellationToken);
            }
            else
            {
                await AtomicFile.WriteAsync(path, async file => await client.GetAsync(objectName, file, cancellationToken));
            }

            return ExitCodes.Success;
        });

        return command;
    }
}
