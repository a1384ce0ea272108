namespace OmniStore.Cli.Bench;

/// <summary>
/// Every site on 127.0.0.1 in the host's own network: no root needed and nothing shaped, so it
/// measures the software, not a wide-area network. Each node listens on a port of its own.
/// </summary>
internal sealed class LoopbackTopology(int sites) : IStagingTopology
{
    public string Description => $"loopback (127.0.0.1), {sites} sites; the WAN is NOT shaped: no rate limit, delay or loss";

    public bool ShapesWan => false;

    public int SiteCount => sites;

    public string HostOf(int site) => "127.0.0.1";

    public long? RateOf(int site) => null;

    public StagedProcess Start(int site, string label, IReadOnlyList<string> arguments)
    {
        var (fileName, prefix) = OmniStoreExecutable.Resolve();
        return new StagedProcess(label, fileName, [.. prefix, .. arguments]);
    }

    public Task<IReadOnlyList<LinkBytes>?> ReadWanCountersAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<LinkBytes>?>(null);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
