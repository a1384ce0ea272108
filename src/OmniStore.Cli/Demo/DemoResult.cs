namespace OmniStore.Cli.Demo;

/// <summary>The measurements of one demo run.</summary>
internal sealed record DemoResult(
    string StoreDirectory,
    int ChunkSize,
    IReadOnlyList<DemoObjectResult> Objects,
    TimeSpan PutTime,
    TimeSpan GetTime);
