using System.CommandLine;
using OmniStore.Cli.Demo;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore demo [--size SIZE] [--chunk-size SIZE]</c>: the relay tree in one process (a root,
/// two site relays, eight workers over loopback TCP), measuring what the root and the relays send
/// when every worker gets one object directly from the root, then through its relay.
/// <c>omnistore demo --embedded [--store DIR]</c>: the embedded store's demo, which puts a data set
/// with duplicate chunks, gets it back, and reports what the store deduplicated.
/// </summary>
internal static class DemoCommand
{
    /// <summary>The demo holds its data in memory (1.5 times --size for the embedded one), hence the cap.</summary>
    private const long MaxSize = 1L << 30;

    public static Command Create()
    {
        var size = SizeOptions.Size("--size", 64L << 20, 1, MaxSize, $"Size of the object (with --embedded, of the main object; a second one, half as long, shares chunks with it); at most {ByteSize.Format(MaxSize)}");
        var chunkSize = SizeOptions.ChunkSize();
        var embedded = new Option<bool>("--embedded")
        {
            Description = "Run the embedded store's demo instead: dedup and throughput of one store, no network",
        };
        var store = new Option<string?>("--store")
        {
            Description = "With --embedded: run in this store directory and keep it; by default a fresh temporary directory is used and deleted afterwards",
            HelpName = "DIR",
            Validators = { CommandLineValidators.NonEmpty },
        };

        var command = new Command("demo", "Show the relay tree at work: 8 workers get one object from the root directly, then through 2 site relays; measured and verified")
        {
            size,
            chunkSize,
            embedded,
            store,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(store) is { Implicit: false } && !result.GetValue(embedded))
            {
                result.AddError("--store is for the embedded demo: add --embedded (the tree demo always runs in temporary stores).");
            }
        });

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            long objectSize = parseResult.GetValue(size);
            int chunks = parseResult.GetValue(chunkSize);
            return parseResult.GetValue(embedded)
                ? await RunEmbeddedAsync(parseResult.GetValue(store), objectSize, chunks, cancellationToken)
                : await RunTreeAsync(objectSize, chunks, cancellationToken);
        });

        return command;
    }

    private static async Task<int> RunTreeAsync(long size, int chunkSize, CancellationToken cancellationToken)
    {
        string directory = Path.Combine(Path.GetTempPath(), $"omnistore-tree-demo-{Guid.NewGuid():N}");
        try
        {
            var result = await TreeDemoRun.RunAsync(size, chunkSize, directory, cancellationToken);
            TreeDemoReport.Write(result, directory);
            int failed = result.Modes.Sum(m => m.Workers - m.Verified);
            return failed == 0
                ? ExitCodes.Success
                : throw new OmniStoreException(OmniStoreError.Corrupt, $"{failed} worker copies differ from the object put.");
        }
        finally
        {
            DeleteQuietly(directory);
        }
    }

    private static async Task<int> RunEmbeddedAsync(string? keptStore, long size, int chunkSize, CancellationToken cancellationToken)
    {
        string directory = keptStore ?? Path.Combine(Path.GetTempPath(), $"omnistore-demo-{Guid.NewGuid():N}");
        try
        {
            var options = new OmniStoreOptions { DataDirectory = directory, ChunkSize = chunkSize };
            var result = await DemoRun.RunAsync(options, size, cancellationToken);
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
