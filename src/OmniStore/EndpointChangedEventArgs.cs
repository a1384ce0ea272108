namespace OmniStore;

/// <summary>
/// A connected client moved to another node: after the node in use failed
/// (<see cref="OmniStoreClient.Failover"/>), or back to a node earlier in its list once that node
/// answered again (<see cref="OmniStoreClient.Restored"/>).
/// </summary>
public sealed class EndpointChangedEventArgs : EventArgs
{
    internal EndpointChangedEventArgs(string previous, string current, string? reason)
    {
        Previous = previous;
        Current = current;
        Reason = reason;
    }

    /// <summary>The address the client used before the move.</summary>
    public string Previous { get; }

    /// <summary>The address the client uses now (<see cref="OmniStoreClient.CurrentEndpoint"/>).</summary>
    public string Current { get; }

    /// <summary>
    /// Why the client left <see cref="Previous"/> (for a failover; it may quote what a node sent, so
    /// escape it before it reaches a terminal or a page), or null for a return to a preferred node.
    /// </summary>
    public string? Reason { get; }
}
