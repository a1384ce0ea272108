using System.CommandLine;
using System.Globalization;
using OmniStore.Cli.Progress;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore put NAME FILE|- [--broadcast] [--if-version N | --if-not-exists] [--if-changed] [--ttl DURATION]</c>:
/// stores a file, or stdin, under a name, if the conditions hold (docs/api.md, "Publish").
/// </summary>
internal static class PutCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The object's name" };
        var source = new Argument<string>("FILE") { Description = "The file to store, or - for standard input", Validators = { CommandLineValidators.NonEmpty } };
        var chunkSize = SizeOptions.ChunkSize();
        var broadcast = new Option<bool>("--broadcast")
        {
            Description = "Once bound, push the object's chunks down to every connected relay, so workers that ask later read it at their site (the embedded store ignores it)",
        };
        var ifVersion = new Option<long?>("--if-version")
        {
            Description = "Bind only if the name is bound at this version now (compare-and-swap); otherwise fail with Conflict and bind nothing",
            HelpName = "N",
        };
        var ifNotExists = new Option<bool>("--if-not-exists") { Description = "Bind only if no object is bound to the name now; otherwise fail with Conflict" };
        var ifChanged = new Option<bool>("--if-changed") { Description = "Leave the name as it is (no new version) when it is bound to identical content already" };
        var ttl = new Option<TimeSpan?>("--ttl")
        {
            Description = "Unbind the name this long after the root binds it (500ms, 30s, 10m, 2h; seconds without a unit; at most 7 days); stat shows when",
            HelpName = "DURATION",
            CustomParser = RelayCommand.ParseDuration,
        };
        var quiet = ProgressOptions.Quiet();
        var store = new StoreConnectionOptions();

        var command = new Command("put", "Store a file (or standard input) under a name, replacing what the name was bound to")
        {
            name,
            source,
            chunkSize,
            broadcast,
            ifVersion,
            ifNotExists,
            ifChanged,
            ttl,
            quiet,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string objectName = parseResult.GetRequiredValue(name);
            string path = parseResult.GetRequiredValue(source);
            ObjectName.Validate(objectName);

            // Opened before the store, so that a missing file fails without touching the store.
            // PutAsync reads one chunk at a time: a file of any size is streamed, never loaded whole
            // (but one of at most 1 MiB, read whole and put in one request).
            await using Stream input = path == "-"
                ? Console.OpenStandardInput()
                : new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, Options = FileOptions.SequentialScan, BufferSize = 0 });
            long? total = input.CanSeek ? input.Length : null;

            await using var client = await store.OpenAsync(parseResult, parseResult.GetValue(chunkSize), cancellationToken);
            var counting = new CountingStream(input);
            var putOptions = new PutOptions
            {
                Broadcast = parseResult.GetValue(broadcast),
                IfVersion = parseResult.GetValue(ifVersion),
                IfNotExists = parseResult.GetValue(ifNotExists),
                IfChanged = parseResult.GetValue(ifChanged),
                TimeToLive = parseResult.GetValue(ttl),
            };
            ObjectInfo? info = null;
            await TransferProgress.TrackAsync(
                TransferProgress.Choose(parseResult.GetValue(quiet)),
                ProgressOptions.Label("put", objectName),
                total,
                () => counting.Transferred,
                async () =>
                {
                    if (total is { } length && length <= Protocol.PutObjectMessage.MaxObject)
                    {
                        // A small file is read whole and put in one request (PUT_OBJECT).
                        var whole = new byte[length];
                        await counting.ReadExactlyAsync(whole, cancellationToken);
                        info = await client.PutAsync(objectName, whole, putOptions, cancellationToken);
                    }
                    else
                    {
                        info = await client.PutAsync(objectName, counting, putOptions, cancellationToken);
                    }

                    return counting.Transferred;
                });

            if (info is not null)
            {
                Console.Out.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"stored '{info.Name}': {ByteSize.Format(info.Length)} ({info.Length} bytes) in {info.ChunkCount} chunk{(info.ChunkCount == 1 ? "" : "s")}, version {info.Version}{(putOptions.Broadcast ? ", broadcast" : "")}{(info.Expires is { } expires ? $", expires {StatCommand.FormatExpiry(expires)}" : "")}"));
            }

            return ExitCodes.Success;
        });

        return command;
    }
}
