namespace OmniStore.Cli.Progress;

/// <summary>How a transfer shows its progress (always on stderr, so stdout stays the data).</summary>
internal enum ProgressStyle
{
    /// <summary>Nothing (<c>--quiet</c>).</summary>
    None,

    /// <summary>A line every few seconds while the transfer runs: for logs and pipes.</summary>
    Lines,

    /// <summary>A live progress bar: stderr is an interactive terminal.</summary>
    Bar,
}
