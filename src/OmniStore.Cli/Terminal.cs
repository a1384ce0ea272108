using Spectre.Console;

namespace OmniStore.Cli;

/// <summary>
/// What the standard streams are connected to, and Spectre.Console consoles that match: colours
/// and live displays only on an interactive terminal, never when <c>NO_COLOR</c> is set
/// (https://no-color.org: present and not empty).
/// </summary>
internal static class Terminal
{
    /// <summary>Whether <c>NO_COLOR</c> asks for output without colours.</summary>
    public static bool NoColor => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    /// <summary>Whether stderr is a terminal someone watches (so a progress bar can redraw itself).</summary>
    public static bool IsStandardErrorInteractive => !Console.IsErrorRedirected && !IsDumbTerminal;

    /// <summary>Whether stdout is a terminal (tables get box drawing; otherwise plain ASCII).</summary>
    public static bool IsStandardOutputInteractive => !Console.IsOutputRedirected && !IsDumbTerminal;

    /// <summary>Whether tables should be drawn plainly: output to a file or pipe, or <c>NO_COLOR</c>.</summary>
    public static bool Plain => NoColor || !IsStandardOutputInteractive;

    private static bool IsDumbTerminal => Environment.GetEnvironmentVariable("TERM") is "dumb";

    /// <summary>A console writing to stdout, plain when <see cref="Plain"/>.</summary>
    public static IAnsiConsole StandardOutput() => Create(Console.Out, IsStandardOutputInteractive);

    /// <summary>A console writing to stderr, for progress displays.</summary>
    public static IAnsiConsole StandardError() => Create(Console.Error, IsStandardErrorInteractive);

    private static IAnsiConsole Create(TextWriter writer, bool interactive)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = NoColor || !interactive ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
        });
        if (!interactive)
        {
            // Not a terminal: no width to detect, and wrapping a table at 80 columns helps nobody.
            console.Profile.Width = 160;
        }

        return console;
    }
}
