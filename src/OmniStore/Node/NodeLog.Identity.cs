using Microsoft.Extensions.Logging;

namespace OmniStore.Node;

/// <summary>Log messages about the node's own identity (event ids 3050-3059).</summary>
internal static partial class NodeLog
{
    [LoggerMessage(3050, LogLevel.Warning, "Node key: {Warning}")]
    public static partial void NodeKeyExposed(ILogger logger, string warning);
}
