namespace OmniStore.Lab;

/// <summary>What <see cref="LabCleanup.RemoveLeftoversAsync"/> found and removed.</summary>
/// <param name="RemovedRuns">Run prefixes whose resources were removed.</param>
/// <param name="RemovedNamespaces">Network namespaces deleted.</param>
/// <param name="KilledProcesses">Process ids killed: wires of those runs and processes left inside their namespaces.</param>
/// <param name="LiveRuns">Run prefixes left alone because the process that owns them still runs.</param>
public sealed record LabCleanupReport(
    IReadOnlyList<string> RemovedRuns,
    IReadOnlyList<string> RemovedNamespaces,
    IReadOnlyList<int> KilledProcesses,
    IReadOnlyList<string> LiveRuns);
