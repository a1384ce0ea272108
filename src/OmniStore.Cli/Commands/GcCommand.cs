using System.CommandLine;
using System.Globalization;
using OmniStore.Cli.Progress;
using OmniStore.Node;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore gc [--store DIR]</c>: reclaims now the disk space of objects removed or replaced in
/// an embedded store, with progress on stderr and one summary line on stdout. A root reclaims its
/// own in the background, and a relay's cache evicts; neither is reached over the network (yet).
/// </summary>
internal static class GcCommand
{
    public static Command Create()
    {
        var quiet = ProgressOptions.Quiet();
        var store = new StoreConnectionOptions();

        var command = new Command("gc", "Reclaim now the disk space of removed and replaced objects in an embedded store (a background pass also does, once they reach a quarter of the store)")
        {
            quiet,
            store.Store,
        };

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string? given = parseResult.GetValue(store.Store);
            string directory = StoreDirectory.Resolve(given, store.Store.Name);
            StoreDirectory.Create(directory, store.Store.Name, isDefault: given is null);
            await using var client = OmniStoreClient.OpenEmbedded(new OmniStoreOptions { DataDirectory = directory });
            var contentStore = ((EmbeddedNode)client.Service).Store;

            // The pass reports how much of the chunk log it scanned; that log is its whole length.
            var style = TransferProgress.Choose(parseResult.GetValue(quiet));
            var summary = await TransferProgress.TrackAsync(
                style,
                ProgressOptions.Label("gc", directory),
                Math.Max(1, contentStore.UsedBytes),
                () => contentStore.PassProgress.Scanned,
                () => contentStore.CollectGarbageAsync(null, cancellationToken));

            Console.Out.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"'{directory}': {ByteSize.Format(summary.DiskBefore)} on disk before, {ByteSize.Format(summary.DiskAfter)} after, {ByteSize.Format(summary.Freed)} freed ({ByteSize.Format(summary.LiveBytes)} of chunks bound to names)"));
            return ExitCodes.Success;
        });

        return command;
    }
}
