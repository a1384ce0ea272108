using System.CommandLine;
using System.Globalization;

namespace OmniStore.Cli.Commands;

/// <summary><c>omnistore stat NAME [--json]</c>: what the store knows of a name.</summary>
internal static class StatCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The object's name" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: name, length, chunkSize, chunkCount, version, manifestId, expires (an ISO 8601 time, or null)" };
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
            if (info.Expires is { } expires)
            {
                writer.WriteString("expires", expires.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            }
            else
            {
                writer.WriteNull("expires");
            }

            writer.WriteBoolean("damaged", info.DamagedChunks.Count > 0);
            writer.WriteStartArray("damagedChunks");
            foreach (int index in info.DamagedChunks)
            {
                writer.WriteNumberValue(index);
            }

            writer.WriteEndArray();
        });
    }

    /// <summary>An expiry as people read it: the UTC time and how far off it is (put and stat).</summary>
    internal static string FormatExpiry(DateTimeOffset expires)
    {
        var left = expires - DateTimeOffset.UtcNow;
        string when = expires.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff 'UTC'", CultureInfo.InvariantCulture);
        return left <= TimeSpan.Zero
            ? $"{when} (passed: the root unbinds it)"
            : string.Create(CultureInfo.InvariantCulture, $"{when} (in {(left.TotalDays >= 1 ? $"{(int)left.TotalDays}d " : "")}{left.Hours:00}:{left.Minutes:00}:{left.Seconds:00})");
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
        if (info.Expires is { } expires)
        {
            Console.Out.WriteLine($"expires:     {FormatExpiry(expires)}");
        }

        if (info.DamagedChunks.Count > 0)
        {
            const int Shown = 32;
            string list = string.Join(", ", info.DamagedChunks.Take(Shown)) + (info.DamagedChunks.Count > Shown ? $" and {info.DamagedChunks.Count - Shown} more" : "");
            Console.Out.WriteLine(string.Create(c, $"DAMAGED:     {info.DamagedChunks.Count} of {info.ChunkCount} chunks fail verification (chunks {list}); every Get fails with Corrupt until a verified copy replaces them"));
        }
    }
}
