using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace OmniStore.Cli.Daemon;

/// <summary>
/// The daemon's log: Microsoft.Extensions.Logging to the console, one line per event with a UTC
/// timestamp, all on stderr, so stdout carries only the stable lines scripts parse
/// (<c>listening on ...</c>). Colours only on a terminal, never with <c>NO_COLOR</c>.
/// </summary>
internal static class ConsoleLogging
{
    public static void Configure(ILoggingBuilder logging, LogLevel level)
    {
        logging.SetMinimumLevel(level);

        // ASP.NET Core and hosting announce every start and request at Information; the status
        // listener is a side show, so only their warnings and errors are worth a line.
        logging.AddFilter("Microsoft", level > LogLevel.Warning ? level : LogLevel.Warning);
        logging.AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.UseUtcTimestamp = true;
            options.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
            options.ColorBehavior = Terminal.NoColor || Console.IsErrorRedirected ? LoggerColorBehavior.Disabled : LoggerColorBehavior.Default;
        });
    }
}
