using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore watch PREFIX [--json] [--from SEQ]</c>: prints each change of a name under the
/// prefix as it happens, a line each, until Ctrl-C (docs/watch.md, "Watch"). A lost connection is
/// resumed from the last change printed; <c>--from</c> starts after a sequence printed before.
/// </summary>
internal static class WatchCommand
{
    public static Command Create()
    {
        var prefix = new Argument<string>("PREFIX") { Description = "Watch the names that start with this (\"\" for every name)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per change, a line each: sequence, kind, name, and for a bound name length, chunkSize, chunkCount, version, manifestId" };
        var from = new Option<long?>("--from")
        {
            Description = "Start after this sequence (one printed before; 0: every change the root still holds) [default: from now]",
            HelpName = "SEQ",
        };
        var store = new StoreConnectionOptions();

        var command = new Command("watch", "Print the changes of the names under a prefix as they happen, until Ctrl-C")
        {
            prefix,
            json,
            from,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string under = parseResult.GetRequiredValue(prefix);
            long? given = parseResult.GetValue(from);
            if (given < 0)
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--from wants a sequence of 0 or more, not {given}."));
            }

            long after = given ?? -1; // -1: from now (the protocol's)

            bool asJson = parseResult.GetValue(json);
            await using var client = await store.OpenAsync(parseResult, cancellationToken);
            using var stdout = Console.OpenStandardOutput();
            using var writer = new StreamWriter(stdout, new System.Text.UTF8Encoding(false)) { AutoFlush = true };
            try
            {
                await foreach (var change in client.WatchAsync(under, after, cancellationToken).ConfigureAwait(false))
                {
                    writer.WriteLine(asJson ? Json(change) : Text(change));
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl-C: the way a watch ends.
            }

            return ExitCodes.Success;
        });

        return command;
    }

    private static string Kind(ObjectChangeKind kind) => kind.ToString().ToLowerInvariant();

    private static string Text(ObjectChange change) => change switch
    {
        { Kind: ObjectChangeKind.Reset } => string.Create(CultureInfo.InvariantCulture, $"{change.Sequence} reset"),
        { Info: { } info } => string.Create(CultureInfo.InvariantCulture, $"{change.Sequence} {Kind(change.Kind)} {ListCommand.Shown(change.Name)} v{change.Version} {info.Length} bytes"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{change.Sequence} {Kind(change.Kind)} {ListCommand.Shown(change.Name)} v{change.Version}"),
    };

    private static string Json(ObjectChange change)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("sequence", change.Sequence);
            json.WriteString("kind", Kind(change.Kind));
            json.WriteString("name", change.Name);
            if (change.Info is { } info)
            {
                ListCommand.WriteSizes(json, info);
            }
            else
            {
                json.WriteNumber("version", change.Version);
            }

            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
