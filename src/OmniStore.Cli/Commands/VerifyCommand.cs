using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OmniStore.Cli.Progress;
using OmniStore.Internal;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore verify [--store DIR] [--json] [--quiet]</c>: reads every chunk of a store and checks it
/// against its id (docs/storage.md, "Damaged chunks"). Exits 0 when the store is whole, with
/// Corrupt's code when something is damaged. A running node verifies its own store
/// (<c>omnistore relay --verify-interval</c>); this command reads a directory no node has open.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object: verifiedChunks, bytes, damagedChunks, damagedObjects" };
        var quiet = ProgressOptions.Quiet();
        var store = new StoreConnectionOptions();

        var command = new Command("verify", "Read and check every chunk of a store; name what is damaged (a running node does this itself with --verify-interval)")
        {
            json,
            quiet,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            await using var client = await store.OpenAsync(parseResult, cancellationToken);
            long bytes = 0;
            var progress = new LatestProgress(p => Interlocked.Exchange(ref bytes, p.Bytes));
            var style = TransferProgress.Choose(parseResult.GetValue(quiet) || parseResult.GetValue(json));
            var result = await TransferProgress.TrackAsync(style, "verify", total: null, () => Interlocked.Read(ref bytes), () => client.VerifyAsync(progress, cancellationToken));

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
        long chunks = result.VerifiedChunks + result.DamagedChunks.Count + result.RepairedChunks.Count;
        Console.Out.WriteLine(string.Create(c, $"verified {chunks} chunks ({ByteSize.Format(result.Bytes)}): {result.DamagedChunks.Count} damaged"));
        foreach (var id in result.DamagedChunks.Take(32))
        {
            Console.Out.WriteLine(string.Create(c, $"damaged chunk: {id}"));
        }

        foreach (var name in result.DamagedObjects.Take(32))
        {
            Console.Out.WriteLine($"damaged object: {UntrustedText.Escape(name, 256)}");
        }

        if (result.DamagedObjects.Count > 32)
        {
            Console.Out.WriteLine(string.Create(c, $"... and {result.DamagedObjects.Count - 32} more damaged objects (--json lists all)"));
        }
    }

    private static void WriteJson(VerifyResult result)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout))
        {
            writer.WriteStartObject();
            writer.WriteNumber("verifiedChunks", result.VerifiedChunks);
            writer.WriteNumber("bytes", result.Bytes);
            writer.WriteStartArray("damagedChunks");
            foreach (var id in result.DamagedChunks)
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
            writer.WriteEndObject();
        }

        stdout.WriteByte((byte)'\n');
    }

    /// <summary>Keeps the latest report on the reporting thread (no post to the pool per chunk).</summary>
    private sealed class LatestProgress(Action<VerifyProgress> report) : IProgress<VerifyProgress>
    {
        public void Report(VerifyProgress value) => report(value);
    }
}
