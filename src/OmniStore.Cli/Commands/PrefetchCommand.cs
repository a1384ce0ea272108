using System.CommandLine;
using System.Diagnostics;
using System.Globalization;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore prefetch NAME --relay URI</c>: asks a relay to hold every chunk of an object, so the
/// workers of its site read it locally. Returns once the relay has them all.
/// </summary>
internal static class PrefetchCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The object's name" };
        var store = new StoreConnectionOptions();

        var command = new Command("prefetch", "Make a relay fetch every chunk of an object it lacks from its parent, ahead of the workers that will ask for it")
        {
            name,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string objectName = parseResult.GetRequiredValue(name);
            ObjectName.Validate(objectName);
            string where = store.RelayUri(parseResult) ?? "the embedded store";

            await using var client = await store.OpenAsync(parseResult, cancellationToken);
            long start = Stopwatch.GetTimestamp();
            await client.PrefetchAsync(objectName, cancellationToken);
            var info = await client.StatAsync(objectName, cancellationToken);
            Console.Out.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"'{objectName}' is at {where}: {ByteSize.Format(info?.Length ?? 0)} in {info?.ChunkCount ?? 0} chunks, version {info?.Version ?? 0} ({Stopwatch.GetElapsedTime(start).TotalSeconds:0.00} s)"));
            return ExitCodes.Success;
        });

        return command;
    }
}
