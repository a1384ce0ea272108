using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace OmniStore.Cli.Daemon;

/// <summary>
/// The daemon's log for collectors (<c>--log-format json</c>): one JSON object a line,
/// <c>{"time":"...Z","level":"info","eventId":3000,"event":"ParentConnected","category":"...",
/// "nodeId":"...","site":"...","peer":"...","message":"...","fields":{...},"exception":"..."}</c>.
/// <c>peer</c> is the event's <c>Peer</c> (else its <c>Parent</c>, else its <c>EndPoint</c>) when it
/// names one ("none" names none); <c>fields</c> holds every named value of the message, as text. Written with
/// <see cref="Utf8JsonWriter"/> (no serializer, nothing found by reflection), whose escaping also
/// keeps any control character a peer sent out of the line.
/// </summary>
internal sealed class JsonLogFormatter : ConsoleFormatter
{
    public const string FormatterName = "omnistore-json";

    /// <summary>The names of an event's values taken as its peer, in order of preference.</summary>
    private static readonly string[] PeerFields = ["Peer", "Parent", "EndPoint"];

    private readonly LogIdentity _identity;

    public JsonLogFormatter(LogIdentity identity)
        : base(FormatterName) => _identity = identity;

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (logEntry.Exception is null && message is null)
        {
            return;
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            json.WriteString("level", Level(logEntry.LogLevel));
            json.WriteNumber("eventId", logEntry.EventId.Id);
            if (!string.IsNullOrEmpty(logEntry.EventId.Name))
            {
                json.WriteString("event", logEntry.EventId.Name);
            }

            json.WriteString("category", logEntry.Category);
            WriteIfKnown(json, "nodeId", _identity.NodeId);
            WriteIfKnown(json, "site", _identity.Site);
            var fields = logEntry.State as IReadOnlyList<KeyValuePair<string, object?>>;
            WriteIfKnown(json, "peer", fields is null ? null : Peer(fields));
            json.WriteString("message", message);
            if (fields is { Count: > 0 })
            {
                json.WriteStartObject("fields");
                foreach (var (name, value) in fields)
                {
                    if (name == "{OriginalFormat}")
                    {
                        continue;
                    }

                    WriteValue(json, name, value);
                }

                json.WriteEndObject();
            }

            if (logEntry.Exception is { } exception)
            {
                json.WriteString("exception", exception.ToString());
            }

            json.WriteEndObject();
        }

        textWriter.Write(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        textWriter.Write('\n');
    }

    private static string? Peer(IReadOnlyList<KeyValuePair<string, object?>> fields)
    {
        foreach (string name in PeerFields)
        {
            foreach (var (key, value) in fields)
            {
                if (key == name && value?.ToString() is { Length: > 0 } text && text != "none")
                {
                    return text;
                }
            }
        }

        return null;
    }

    private static void WriteIfKnown(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    /// <summary>Numbers as numbers, everything else as its text (a peer's text is escaped by its own ToString).</summary>
    private static void WriteValue(Utf8JsonWriter json, string name, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNull(name);
                break;
            case bool b:
                json.WriteBoolean(name, b);
                break;
            case int i:
                json.WriteNumber(name, i);
                break;
            case long l:
                json.WriteNumber(name, l);
                break;
            case double d when double.IsFinite(d):
                json.WriteNumber(name, d);
                break;
            default:
                json.WriteString(name, Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "error",
        LogLevel.Critical => "critical",
        _ => "none",
    };
}
