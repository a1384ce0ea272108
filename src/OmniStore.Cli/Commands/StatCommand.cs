using System.CommandLine;
using System.Globalization;
using System.Text.Json;

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
                ?? throw new OmniStoreException(OmniStoreError.NotFound, $"'{objectName}' not found.");

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
        using var stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout))
        {
            writer.WriteStartObject();
            writer.WriteString("name", info.Name);
            writer.WriteNumber("length", info.Length);
            writer.WriteNumber("chunkSize", info.ChunkSize);
            writer.WriteNumber("chunkCount", info.ChunkCount);
            writer.WriteNumber("version", info.Version);
            writer.WriteString("manifestId", info.ManifestId.ToString());
            writer.WriteEndObject();
        }

        stdout.WriteByte((byte)'\n');
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
    }
}
