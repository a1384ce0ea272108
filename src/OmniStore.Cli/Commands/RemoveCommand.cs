using System.CommandLine;

namespace OmniStore.Cli.Commands;

/// <summary><c>omnistore rm NAME</c>: unbinds a name; a name that is not bound is an error.</summary>
internal static class RemoveCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The object's name" };
        var store = new StoreConnectionOptions();

        var command = new Command("rm", "Remove a name; a background pass gives its space back once removed and replaced objects reach a quarter of the store, and 'omnistore gc' does now")
        {
            name,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string objectName = parseResult.GetRequiredValue(name);
            ObjectName.Validate(objectName);

            await using var client = await store.OpenAsync(parseResult, cancellationToken);
            if (!await client.DeleteAsync(objectName, cancellationToken))
            {
                throw OmniStore.Internal.ThrowHelper.NotFound(objectName); // worded as get words it
            }

            return ExitCodes.Success;
        });

        return command;
    }
}
