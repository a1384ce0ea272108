using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace OmniStore.Cli.Daemon;

/// <summary>
/// The daemon's log: Microsoft.Extensions.Logging to the console, all on stderr, so stdout carries
/// only the stable lines scripts parse (<c>listening on ...</c>). As text (the default), one line
/// per event with a UTC timestamp, colours only on a terminal and never with <c>NO_COLOR</c>; as
/// JSON (<c>--log-format json</c>), one object per line (<see cref="JsonLogFormatter"/>).
/// </summary>
internal static class ConsoleLogging
{
    public static void Configure(ILoggingBuilder logging, LogLevel level) => Configure(logging, level, LogFormat.Text, identity: null);

    public static void Configure(ILoggingBuilder logging, LogLevel level, LogFormat format, LogIdentity? identity)
    {
        logging.SetMinimumLevel(level);

        // ASP.NET Core and hosting announce every start and request at Information; the status
        // listener is a side show, so only their warnings and errors are worth a line.
        logging.AddFilter("Microsoft", level > LogLevel.Warning ? level : LogLevel.Warning);
        if (format == LogFormat.Json)
        {
            // The formatter is registered as an instance: no options type bound from configuration.
            logging.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ConsoleFormatter>(new JsonLogFormatter(identity ?? new LogIdentity(null))));
            logging.AddConsole(options =>
            {
                options.LogToStandardErrorThreshold = LogLevel.Trace;
                options.FormatterName = JsonLogFormatter.FormatterName;
            });
            return;
        }

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
