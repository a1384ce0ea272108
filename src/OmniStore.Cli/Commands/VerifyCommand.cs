using System.CommandLine;
using System.Globalization;
using OmniStore.Cli.Progress;
using OmniStore.Content;
using OmniStore.Internal;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore verify [--store DIR | --node URI] [--repair] [--from URI] [--json] [--quiet]</c>:
/// reads every chunk of a store, or asks a running node to read its own, and checks each against
/// its id (docs/storage.md, "Damaged chunks"); with <c>--repair</c>, what a verified copy exists of
/// is repaired (a node from its own tree, a store directory from the node <c>--from</c> names).
/// Exits 0 when the store is whole (after the repair), with Corrupt's code when damage is left.
/// </summary>
internal static class VerifyCommand
{
    /// <summary>How many entries of each list the text output prints; --json prints all the answer holds.</summary>
    private const int Shown = 32;

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object: verifiedChunks, bytes, the damaged, repaired and damaged-object counts and lists" };
        var quiet = ProgressOptions.Quiet();
        var repair = new Option<bool>("--repair") { Description = "Repair what a verified copy exists of: a node from its own tree (a root from its relays, a relay from its parent), a store directory from the node --from names" };
        var node = new Option<string?>("--node")
        {
            Description = "Verify this running node's store (a root or relay), tcp://HOST:PORT; it reports progress while it reads",
            HelpName = "URI",
            Validators = { NodeAddressOptions.Validate },
        };
        var from = new Option<string?>("--from")
        {
            Description = "With --repair and a store directory: the node to fetch verified copies of the damaged chunks from, by chunk id",
            HelpName = "URI",
            Validators = { NodeAddressOptions.Validate },
        };
        var store = new StoreConnectionOptions();
        store.Store.Description = $"The store directory to read, which no node may have open, used when no --node is given [default: {StoreDirectory.DefaultDescription}]";
        store.SecretFile.Description = "A file holding the tree's shared secret, for --node and --from (trailing whitespace ignored) [default: $OMNISTORE_SECRET_FILE]";

        var command = new Command("verify", "Read and check every chunk of a store or a running node; name what is damaged, and with --repair repair what it can")
        {
            node,
            store.Store,
            store.SecretFile,
            repair,
            from,
            json,
            quiet,
        };
        command.Validators.Add(result =>
        {
            bool given(Option option) => result.GetResult(option) is { Implicit: false };
            if (given(node) && given(store.Store))
            {
                result.AddError("--node and --store exclude each other: verify a running node or a store directory no node has open.");
            }
            else if (given(from) && given(node))
            {
                result.AddError("--from is for a store directory: a node repairs from its own tree (its relays below, its parent above).");
            }
            else if (given(from) && !result.GetValue(repair))
            {
                result.AddError("--from names where --repair fetches verified copies from: give --repair too.");
            }
            else if (result.GetValue(repair) && !given(node) && !given(from))
            {
                result.AddError("--repair on a store directory needs --from URI, a node that holds verified copies of its chunks (a running node repairs from its own tree: verify --node URI --repair).");
            }
            else if (given(store.SecretFile) && !given(node) && !given(from))
            {
                result.AddError("--secret-file applies to a node: give --node URI or --from URI.");
            }
        });

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string? nodeUri = parseResult.GetValue(node);
            var secret = nodeUri is not null || parseResult.GetValue(from) is not null ? store.Secret(parseResult) : null;
            await using var client = nodeUri is not null
                ? await OmniStoreClient.ConnectAsync(nodeUri, new OmniStoreOptions { SharedSecret = secret }, cancellationToken)
                : store.OpenEmbedded(parseResult, ChunkLayout.DefaultChunkSize, secret);
            var options = new VerifyOptions { Repair = parseResult.GetValue(repair), RepairFrom = parseResult.GetValue(from) };

            long bytes = 0;
            var progress = new LatestProgress(p => Interlocked.Exchange(ref bytes, p.Bytes));
            var style = TransferProgress.Choose(parseResult.GetValue(quiet) || parseResult.GetValue(json));
            var result = await TransferProgress.TrackAsync(style, "verify", total: null, () => Interlocked.Read(ref bytes), () => client.VerifyAsync(options, progress, cancellationToken));

            if (parseResult.GetValue(json))
            {
                WriteJson(result);
            }
            else
            {
                WriteText(result);
            }

            return result.IsWhole ? ExitCodes.Success : ExitCodes.For(OmniStoreError.Corrupt);
        });

        return command;
    }

    private static void WriteText(VerifyResult result)
    {
        var c = CultureInfo.InvariantCulture;
        long chunks = result.VerifiedChunks + result.DamagedChunkCount + result.RepairedChunkCount;
        Console.Out.WriteLine(string.Create(c, $"verified {chunks} chunks ({ByteSize.Format(result.Bytes)}): {result.DamagedChunkCount} damaged, {result.RepairedChunkCount} repaired"));
        WriteList("repaired chunk", result.RepairedChunks.Select(id => id.ToString()), result.RepairedChunkCount);
        WriteList("damaged chunk", result.DamagedChunks.Select(id => id.ToString()), result.DamagedChunkCount);
        WriteList("damaged object", result.DamagedObjects.Select(name => UntrustedText.Escape(name, 256)), result.DamagedObjectCount);

        static void WriteList(string what, IEnumerable<string> listed, long count)
        {
            foreach (string entry in listed.Take(Shown))
            {
                Console.Out.WriteLine($"{what}: {entry}");
            }

            if (count > Shown)
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"... and {count - Shown} more of {count} {what}s (--json lists them, up to {VerifyResult.MaxListed} from a node)"));
            }
        }
    }

    private static void WriteJson(VerifyResult result)
    {
        JsonOutput.WriteObject(writer =>
        {
            writer.WriteNumber("verifiedChunks", result.VerifiedChunks);
            writer.WriteNumber("bytes", result.Bytes);
            writer.WriteBoolean("whole", result.IsWhole);
            writer.WriteNumber("damagedChunkCount", result.DamagedChunkCount);
            writer.WriteNumber("repairedChunkCount", result.RepairedChunkCount);
            writer.WriteNumber("damagedObjectCount", result.DamagedObjectCount);
            writer.WriteStartArray("damagedChunks");
            foreach (var id in result.DamagedChunks)
            {
                writer.WriteStringValue(id.ToString());
            }

            writer.WriteEndArray();
            writer.WriteStartArray("repairedChunks");
            foreach (var id in result.RepairedChunks)
            {
                writer.WriteStringValue(id.ToString());
            }

            writer.WriteEndArray();
            writer.WriteStartArray("damagedObjects");
            foreach (var name in result.DamagedObjects)
            {
                writer.WriteStringValue(name);
            }

            writer.WriteEndArray();
        });
    }

    /// <summary>Keeps the latest report on the reporting thread (no post to the pool per chunk).</summary>
    private sealed class LatestProgress(Action<VerifyProgress> report) : IProgress<VerifyProgress>
    {
        public void Report(VerifyProgress value) => report(value);
    }
}
