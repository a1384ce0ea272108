namespace OmniStore.Cli.Daemon;

/// <summary>How the daemon writes its log on stderr (<c>--log-format</c>).</summary>
internal enum LogFormat
{
    /// <summary>One line of text per event, for people: <c>2026-11-22T01:07:06.629Z info: Category[id] message</c>.</summary>
    Text,

    /// <summary>One JSON object per line, for log collectors (<see cref="JsonLogFormatter"/>).</summary>
    Json,
}
