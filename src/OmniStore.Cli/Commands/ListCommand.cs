using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OmniStore.Internal;

namespace OmniStore.Cli.Commands;

/// <summary>
/// <c>omnistore ls [PREFIX] [--json] [--long] [--cached]</c>: the names bound under a prefix, in
/// name order, fetched a page at a time (docs/watch.md): any number of names, in bounded memory.
/// </summary>
internal static class ListCommand
{
    public static Command Create()
    {
        var prefix = new Argument<string>("PREFIX") { Description = "List the names that start with this (default: every name)", Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => string.Empty };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per name, a line each: name, length, chunkSize, chunkCount, version, manifestId" };
        var longFormat = new Option<bool>("--long", "-l") { Description = "Print each name's length, version and chunk count too" };
        var cached = new Option<bool>("--cached") { Description = "List what the node given with --relay holds itself (a relay's cache), not every name the root binds" };
        var store = new StoreConnectionOptions();

        var command = new Command("ls", "List the names bound under a prefix")
        {
            prefix,
            json,
            longFormat,
            cached,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string under = parseResult.GetValue(prefix) ?? string.Empty;
            await using var client = await store.OpenAsync(parseResult, cancellationToken);
            bool asJson = parseResult.GetValue(json), asLong = parseResult.GetValue(longFormat);
            using var stdout = Console.OpenStandardOutput();
            using var writer = new StreamWriter(stdout, new System.Text.UTF8Encoding(false), 64 * 1024) { AutoFlush = false };
            await foreach (var info in client.ListAsync(under, parseResult.GetValue(cached), cancellationToken).ConfigureAwait(false))
            {
                writer.WriteLine(asJson ? Json(info) : asLong ? Long(info) : Shown(info.Name));
            }

            await writer.FlushAsync(cancellationToken);
            return ExitCodes.Success;
        });

        return command;
    }

    /// <summary>A name as a terminal shows it: the root's names are valid, but may still hold format characters.</summary>
    internal static string Shown(string name) => UntrustedText.Escape(name, 4 * ObjectName.MaxByteLength);

    private static string Long(ObjectInfo info) =>
        string.Create(CultureInfo.InvariantCulture, $"{info.Length,14} {ByteSize.Format(info.Length),10}  v{info.Version,-6} {info.ChunkCount,6} chunks  {Shown(info.Name)}");

    private static string Json(ObjectInfo info)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("name", info.Name);
            WriteSizes(json, info);
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>An object's sizes, version and manifest id as JSON properties (ls --json, watch --json).</summary>
    internal static void WriteSizes(Utf8JsonWriter json, ObjectInfo info)
    {
        json.WriteNumber("length", info.Length);
        json.WriteNumber("chunkSize", info.ChunkSize);
        json.WriteNumber("chunkCount", info.ChunkCount);
        json.WriteNumber("version", info.Version);
        json.WriteString("manifestId", info.ManifestId.ToString());
    }
}
