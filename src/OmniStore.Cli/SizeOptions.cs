using System.CommandLine;
using System.CommandLine.Parsing;
using OmniStore.Content;

namespace OmniStore.Cli;

/// <summary>Options that take a size (<see cref="ByteSize"/> syntax), checked while parsing.</summary>
internal static class SizeOptions
{
    /// <summary><c>--chunk-size SIZE</c>: 64K..16M, default 1M.</summary>
    public static Option<int> ChunkSize() => new("--chunk-size")
    {
        Description = $"The size objects are split into, {ByteSize.Format(ChunkLayout.MinChunkSize)}..{ByteSize.Format(ChunkLayout.MaxChunkSize)}",
        HelpName = "SIZE",
        DefaultValueFactory = _ => ChunkLayout.DefaultChunkSize,
        CustomParser = result => (int)Parse(result, ChunkLayout.MinChunkSize, ChunkLayout.MaxChunkSize),
    };

    /// <summary>A size option named <paramref name="name"/>, within <paramref name="min"/>..<paramref name="max"/> bytes.</summary>
    public static Option<long> Size(string name, long defaultValue, long min, long max, string description) => new(name)
    {
        Description = description,
        HelpName = "SIZE",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => Parse(result, min, max),
    };

    private static long Parse(ArgumentResult result, long min, long max)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        string option = result.Parent is OptionResult parent ? parent.Option.Name : "size";
        if (!ByteSize.TryParse(text, out long bytes, out string? problem))
        {
            result.AddError($"{option}: {problem}.");
            return 0;
        }

        if (bytes < min || bytes > max)
        {
            result.AddError($"{option}: {text} is out of range; it must be between {ByteSize.Format(min)} and {ByteSize.Format(max)}.");
            return 0;
        }

        return bytes;
    }
}
