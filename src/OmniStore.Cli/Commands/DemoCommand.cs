using System.CommandLine;
using OmniStore.Cli.Demo;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore demo [--size SIZE] [--chunk-size SIZE] [--store DIR]</c>: puts a data set with
/// duplicate chunks into an embedded store, gets it back, verifies it, and reports what the store
/// deduplicated and how fast it went.
/// </summary>
internal static class DemoCommand
{
    /// <summary>The demo holds its data set in memory (1.5 times --size), hence the cap.</summary>
    private const long MaxSize = 1L << 30;

    public static Command Create()
    {
        var size = SizeOptions.Size("--size", 64L << 20, 1, MaxSize, $"Size of the main object; a second one, half as long, shares chunks with it (at most {ByteSize.Format(MaxSize)})");
        var chunkSize = SizeOptions.ChunkSize();
        var store = new Option<string?>("--store")
        {
            Description = "Run in this store directory and keep it; by default a fresh temporary directory is used and deleted afterwards",
            HelpName = "DIR",
            Validators = { CommandLineValidators.NonEmpty },
        };

        var command = new Command("demo", "Put a data set with duplicate chunks, get it back, verify it, and report dedup and throughput")
        {
            size,
            chunkSize,
            store,
        };

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string? keptStore = parseResult.GetValue(store);
            string directory = keptStore ?? Path.Combine(Path.GetTempPath(), $"omnistore-demo-{Guid.NewGuid():N}");
            try
            {
                var options = new OmniStoreOptions { DataDirectory = directory, ChunkSize = parseResult.GetValue(chunkSize) };
                var result = await DemoRun.RunAsync(options, parseResult.GetValue(size), cancellationToken);
                DemoReport.Write(result, temporaryStore: keptStore is null);
                return ExitCodes.Success;
            }
            finally
            {
                if (keptStore is null)
                {
                    DeleteQuietly(directory);
                }
            }
        });

        return command;
    }

    private static void DeleteQuietly(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException ex)
        {
            CommandFailure.Report($"could not delete the temporary store {directory}: {ex.Message}");
        }
    }
}
