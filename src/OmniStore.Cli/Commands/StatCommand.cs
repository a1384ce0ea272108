using System.CommandLine;
using System.Globalization;

namespace OmniStore.Cli.Commands;

/// <summary><c>omnistore stat NAME [--json]</c>: what the store knows of a name.</summary>
internal static class StatCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The object's name" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: name, length, chunkSize, chunkCount, version, manifestId" };
        var store = new StoreConnectionOptions();

        var command = new Command("stat", "Show an object's length, chunking, version and manifest id")
        {
            name,
            json,
        };
        store.AddTo(command);

        command.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            string objectName = parseResult.GetRequiredValue(name);
            ObjectName.Validate(objectName);

            await using var client = await store.OpenAsync(parseResult, cancellationToken);
            var info = await client.StatAsync(objectName, cancellationToken)
                ?? throw OmniStore.Internal.ThrowHelper.NotFound(objectName); // worded as get words it

            if (parseResult.GetValue(json))
            {
                WriteJson(info);
            }
            else
            {
                WriteText(info);
            }

            return ExitCodes.Success;
        });

        return command;
    }

    private static void WriteJson(ObjectInfo info)
    {
        JsonOutput.WriteObject(writer =>
        {
            writer.WriteString("name", info.Name);
            writer.WriteNumber("length", info.Length);
            writer.WriteNumber("chunkSize", info.ChunkSize);
            writer.WriteNumber("chunkCount", info.ChunkCount);
            writer.WriteNumber("version", info.Version);
            writer.WriteString("manifestId", info.ManifestId.ToString());
            writer.WriteBoolean("damaged", info.DamagedChunks.Count > 0);
            writer.WriteStartArray("damagedChunks");
            foreach (int index in info.DamagedChunks)
            {
                writer.WriteNumberValue(index);
            }

            writer.WriteEndArray();
        });
    }

    private static void WriteText(ObjectInfo info)
    {
        var c = CultureInfo.InvariantCulture;
        Console.Out.WriteLine(string.Create(c, $"name:        {info.Name}"));
        Console.Out.WriteLine(string.Create(c, $"length:      {info.Length} ({ByteSize.Format(info.Length)})"));
        Console.Out.WriteLine(string.Create(c, $"chunk size:  {info.ChunkSize} ({ByteSize.Format(info.ChunkSize)})"));
        Console.Out.WriteLine(string.Create(c, $"chunks:      {info.ChunkCount}"));
        Console.Out.WriteLine(string.Create(c, $"version:     {info.Version}"));
        Console.Out.WriteLine(string.Create(c, $"manifest id: {info.ManifestId}"));
        if (info.DamagedChunks.Count > 0)
        {
            const int Shown = 32;
            string list = string.Join(", ", info.DamagedChunks.Take(Shown)) + (info.DamagedChunks.Count > Shown ? $" and {info.DamagedChunks.Count - Shown} more" : "");
            Console.Out.WriteLine(string.Create(c, $"DAMAGED:     {info.DamagedChunks.Count} of {info.ChunkCount} chunks fail verification (chunks {list}); every Get fails with Corrupt until a verified copy replaces them"));
        }
    }
}
