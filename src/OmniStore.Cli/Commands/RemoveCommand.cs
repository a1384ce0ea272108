using System.CommandLine;
using System.Globalization;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore rm NAME</c>: unbinds a name; a name that is not bound is an error.
/// <c>omnistore rm --prefix PREFIX</c>: unbinds every name under the prefix (<see cref="OmniStoreClient.DeletePrefixAsync"/>), and prints how many.
/// </summary>
internal static class RemoveCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The object's name", Arity = ArgumentArity.ZeroOrOne };
        var prefix = new Option<string>("--prefix")
        {
            Description = "Remove every name that starts with this instead (not atomic: a name bound under it meanwhile may stay)",
            HelpName = "PREFIX",
        };
        var store = new StoreConnectionOptions();

        var command = new Command("rm", "Remove a name, or every name under a prefix; a background pass gives its space back once removed and replaced objects reach a quarter of the store, and 'omnistore gc' does now")
        {
            name,
            prefix,
        };
        store.AddTo(command);
        command.Validators.Add(result =>
        {
            if ((result.GetValue(name) is null) == (result.GetValue(prefix) is null))
            {
                result.AddError("give a NAME or --prefix PREFIX, one of them");
            }
        });

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string? objectName = parseResult.GetValue(name);
            string? under = parseResult.GetValue(prefix);
            if (under is not null)
            {
                if (under.Length == 0)
                {
                    throw new UsageException("rm --prefix wants a prefix: the empty one would remove every name.");
                }

                Protocol.ListMessages.ValidatePrefix(under);
                await using var prefixed = await store.OpenAsync(parseResult, cancellationToken);
                long removed = await prefixed.DeletePrefixAsync(under, cancellationToken);
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"removed {removed} {(removed == 1 ? "name" : "names")}"));
                return ExitCodes.Success;
            }

            ObjectName.Validate(objectName!);
            await using var client = await store.OpenAsync(parseResult, cancellationToken);
            if (!await client.DeleteAsync(objectName!, cancellationToken))
            {
                throw OmniStore.Internal.ThrowHelper.NotFound(objectName!); // worded as get words it
            }

            return ExitCodes.Success;
        });

        return command;
    }
}
