using System.Text.Json;

namespace OmniStore.Cli;

/// <summary>The <c>--json</c> output of a command: one JSON object on standard output, then a newline.</summary>
internal static class JsonOutput
{
    /// <summary>Writes one object whose members <paramref name="members"/> writes, and a newline.</summary>
    public static void WriteObject(Action<Utf8JsonWriter> members)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout))
        {
            writer.WriteStartObject();
            members(writer);
            writer.WriteEndObject();
        }

        stdout.WriteByte((byte)'\n');
    }
}
