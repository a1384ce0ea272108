namespace OmniStore;

/// <summary>What happened to a name, as <see cref="OmniStoreClient.WatchAsync(string, CancellationToken)"/> reports it.</summary>
public enum ObjectChangeKind
{
    /// <summary>
    /// The watch was resynchronized: changes were missed (the root no longer held them), so the
    /// names bound now follow as <see cref="Bound"/> changes, then the changes after them.
    /// </summary>
    Reset = 0,

    /// <summary>A name that was not bound was bound to an object.</summary>
    Bound = 1,

    /// <summary>A bound name was bound to another object (a Put of a name that existed).</summary>
    Rebound = 2,

    /// <summary>A bound name was deleted.</summary>
    Deleted = 3,
}

/// <summary>One change of a binding under a watched prefix (docs/watch.md, "Watch").</summary>
/// <param name="Sequence">
/// The root's number of the change: it grows with every change of any name in the tree. Pass the
/// last one seen to <see cref="OmniStoreClient.WatchAsync(string, long, CancellationToken)"/> to go on
/// from there. The <see cref="ObjectChangeKind.Bound"/> changes that follow a reset carry the reset's.
/// </param>
/// <param name="Kind">What happened.</param>
/// <param name="Name">The name (empty for a <see cref="ObjectChangeKind.Reset"/>).</param>
/// <param name="Version">The binding's version after the change (a deletion's is its tombstone's); 0 for a reset.</param>
/// <param name="Info">
/// The object bound, for <see cref="ObjectChangeKind.Bound"/> and <see cref="ObjectChangeKind.Rebound"/>;
/// null otherwise. Its sizes are 0 when the root no longer holds that version's manifest (a change
/// replayed long after a later Put replaced it).
/// </param>
public sealed record ObjectChange(long Sequence, ObjectChangeKind Kind, string Name, long Version, ObjectInfo? Info);
