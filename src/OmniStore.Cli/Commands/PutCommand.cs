using System.CommandLine;
using System.Globalization;
using OmniStore.Cli.Progress;

namespace OmniStore.Cli.Commands;

/// <summary><c>omnistore put NAME FILE|- [--broadcast]</c>: stores a file, or stdin, under a name.</summary>
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
        var quiet = ProgressOptions.Quiet();
        var store = new StoreConnectionOptions();

        var command = new Command("put", "Store a file (or standard input) under a name, replacing what the name was bound to")
        {
            name,
            source,
            chunkSize,
            broadcast,
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
            var putOptions = new PutOptions { Broadcast = parseResult.GetValue(broadcast) };
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
                        await client.PutAsync(objectName, whole, putOptions, cancellationToken);
                    }
                    else
                    {
                        await client.PutAsync(objectName, counting, putOptions, cancellationToken);
                    }

                    return counting.Transferred;
                });

            var info = await client.StatAsync(objectName, cancellationToken);
            if (info is not null)
            {
                Console.Out.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"stored '{info.Name}': {ByteSize.Format(info.Length)} ({info.Length} bytes) in {info.ChunkCount} chunk{(info.ChunkCount == 1 ? "" : "s")}, version {info.Version}{(putOptions.Broadcast ? ", broadcast" : "")}"));
            }

            return ExitCodes.Success;
        });

        return command;
    }
}
