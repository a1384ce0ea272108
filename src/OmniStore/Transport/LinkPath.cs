namespace OmniStore.Transport;

/// <summary>How a connection reaches its peer.</summary>
internal enum PathType
{
    /// <summary>Straight to the peer's address (TCP, an in-process pipe).</summary>
    Direct,

    /// <summary>Through a port mapping the peer's NAT was asked for (UPnP, NAT-PMP, PCP).</summary>
    Mapped,

    /// <summary>Through a hole both ends punched in their NATs.</summary>
    Punched,

    /// <summary>Through a relay that forwards every byte (TURN).</summary>
    Relayed,
}

/// <summary>The transport a connection uses (its scheme) and the path it runs over.</summary>
/// <param name="Transport">The scheme: <c>tcp</c>, <c>mem</c>, ...</param>
/// <param name="Type">The kind of path.</param>
internal sealed record LinkPath(string Transport, PathType Type)
{
    /// <summary>The path type as shown in status and logs: <c>direct</c>, <c>mapped</c>, <c>punched</c>, <c>relayed</c>.</summary>
    public string TypeName => Type switch
    {
        PathType.Direct => "direct",
        PathType.Mapped => "mapped",
        PathType.Punched => "punched",
        _ => "relayed",
    };

    /// <inheritdoc/>
    public override string ToString() => $"{Transport} {TypeName}";
}
