namespace OmniStore.Cli.Daemon;

/// <summary>
/// What every JSON log line says about the node that wrote it: its site (known from the start) and
/// its node id (known once the node has loaded its key; lines before that have none).
/// </summary>
internal sealed class LogIdentity
{
    private volatile string? _nodeId;

    public LogIdentity(string? site) => Site = site;

    /// <summary>The node's site, or null when there is none (a command that is not a node).</summary>
    public string? Site { get; }

    /// <summary>The node's id, once known.</summary>
    public string? NodeId
    {
        get => _nodeId;
        set => _nodeId = value;
    }
}
