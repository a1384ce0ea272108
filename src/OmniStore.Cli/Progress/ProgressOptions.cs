using System.CommandLine;

namespace OmniStore.Cli.Progress;

/// <summary>The <c>--quiet</c> option of the commands that move data, and the label of their progress display.</summary>
internal static class ProgressOptions
{
    private const int MaxLabelName = 40;

    public static Option<bool> Quiet() => new("--quiet", "-q")
    {
        Description = "Show no progress (by default: a bar when stderr is a terminal, else a line every 2 s for long transfers)",
    };

    /// <summary><c>verb name</c>, the name shortened to fit a progress line.</summary>
    public static string Label(string verb, string name) =>
        name.Length <= MaxLabelName ? $"{verb} {name}" : $"{verb} {name[..(MaxLabelName - 3)]}...";
}
