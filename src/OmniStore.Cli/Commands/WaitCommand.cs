using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore wait NAME [--timeout DURATION]</c>: returns once an object is bound to the name,
/// woken by the node rather than by polling (docs/watch.md, "WAIT"); prints what <c>stat</c> would.
/// </summary>
internal static class WaitCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The name to wait for" };
        var timeout = new Option<TimeSpan?>("--timeout")
        {
            Description = "Give up after this long (500ms, 30s, 5m, 2h; seconds without a unit), exiting with NotFound's code [default: wait for ever]",
            HelpName = "DURATION",
            CustomParser = RelayCommand.ParseDuration,
        };
        var store = new StoreConnectionOptions();

        var command = new Command("wait", "Wait until an object is bound to a name")
        {
            name,
            timeout,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string objectName = parseResult.GetRequiredValue(name);
            ObjectName.Validate(objectName);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (parseResult.GetValue(timeout) is { } limit)
            {
                deadline.CancelAfter(limit);
            }

            await using var client = await store.OpenAsync(parseResult, deadline.Token);
            ObjectInfo info;
            try
            {
                info = await client.WaitForAsync(objectName, deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new OmniStoreException(OmniStoreError.NotFound, string.Create(CultureInfo.InvariantCulture, $"'{objectName}' was not bound within {parseResult.GetValue(timeout)!.Value.TotalSeconds:0.###}s."));
            }

            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{info.Name}: {info.Length} bytes, version {info.Version}"));
            return ExitCodes.Success;
        });

        return command;
    }
}
