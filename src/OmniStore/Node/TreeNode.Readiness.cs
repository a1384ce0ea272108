using System.Globalization;

namespace OmniStore.Node;

internal sealed partial class TreeNode
{
    /// <summary>
    /// Whether the node is ready to serve its children, and why (not): what the daemon's
    /// <c>/readyz</c> answers and <c>omnistore status --check</c> exits by. Ready means the store is
    /// open, the node is not shutting down, it would accept a new connection, and, for a relay, its
    /// parent is connected or it lost the parent after it was connected and serves what it cached,
    /// as it is designed to (docs/operations.md, "When the parent is down"). A relay that never
    /// reached its parent since it started, or that may have missed a rebinding, is not ready: it
    /// would answer every name with Unavailable, and its clients are better sent elsewhere.
    /// </summary>
    public ReadinessStatus GetReadiness()
    {
        if (_stopping.IsCancellationRequested)
        {
            return new ReadinessStatus(false, "shutting down");
        }

        if (!_store.IsOpen)
        {
            return new ReadinessStatus(false, $"the store in {_store.Directory} is closed");
        }

        if (Connections.Refusing is { } refusing)
        {
            return new ReadinessStatus(false, string.Create(CultureInfo.InvariantCulture, $"refusing connections since {refusing.Since:yyyy-MM-dd'T'HH:mm:ss'Z'}: {refusing.Reason}"));
        }

        if (Parent is not { } parent)
        {
            return new ReadinessStatus(true, "root, store open");
        }

        if (parent.Current is not null)
        {
            return new ReadinessStatus(true, $"relay, store open, parent {parent.Address} connected");
        }

        string problem = parent.LastProblem is { } last ? $" ({last})" : "";
        if (DistrustReason is { } distrust)
        {
            return new ReadinessStatus(false, $"parent {parent.Address} unreachable{problem}, and this relay answers no names until it is back: {distrust}");
        }

        if (parent.Connections == 0)
        {
            return new ReadinessStatus(false, $"not connected to its parent {parent.Address} since it started{problem}: it knows no names yet");
        }

        return new ReadinessStatus(true, $"relay, store open, parent {parent.Address} unreachable{problem}: serving what it cached until the parent is back");
    }
}
