using System.Text.Json;
using System.Text.Json.Serialization;

namespace OmniStore.Cli.Bench;

/// <summary>
/// One line a benchmark participant (<c>omnistore bench master</c> or <c>bench worker</c>) writes to
/// stdout for the controller: JSON, one event per line. Times are Unix nanoseconds from the wall
/// clock, which every network namespace of one machine shares.
/// </summary>
internal sealed record ParticipantEvent
{
    public const string Ready = "ready";
    public const string Put = "put";
    public const string Verified = "verified";
    public const string Failed = "failed";
    public const string Done = "done";

    /// <summary>The line a participant waits for on stdin before it starts.</summary>
    public const string GoLine = "go";

    [JsonPropertyName("event")]
    public required string Event { get; init; }

    /// <summary>Which worker of the process (0-based), for <see cref="Verified"/> and <see cref="Failed"/>.</summary>
    [JsonPropertyName("worker")]
    public int? Worker { get; init; }

    [JsonPropertyName("start")]
    public long? Start { get; init; }

    [JsonPropertyName("end")]
    public long? End { get; init; }

    [JsonPropertyName("bytes")]
    public long? Bytes { get; init; }

    /// <summary>CPU seconds the process used between "go" and <see cref="Done"/>.</summary>
    [JsonPropertyName("cpu")]
    public double? CpuSeconds { get; init; }

    [JsonPropertyName("error")]
    public string? Error { get; init; }

    public static long Now() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;

    public string ToLine() => JsonSerializer.Serialize(this, ParticipantEventContext.Default.ParticipantEvent);

    /// <summary>The event on <paramref name="line"/>, or null for a line that is not one (a log line).</summary>
    public static ParticipantEvent? TryParse(string line)
    {
        if (!line.StartsWith('{'))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(line, ParticipantEventContext.Default.ParticipantEvent);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ParticipantEvent))]
internal sealed partial class ParticipantEventContext : JsonSerializerContext;
