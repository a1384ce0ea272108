namespace OmniStore;

/// <summary>How a Put is carried out, and the conditions under which it binds the name (docs/api.md, "Publish").</summary>
/// <remarks>
/// The conditions are checked at the root, atomically with the binding: of two Puts with the same
/// <see cref="IfVersion"/>, exactly one binds. A node of a protocol version before 8 cannot check
/// them: a Put with any of them set fails there with <see cref="OmniStoreError.ProtocolError"/>
/// before anything is bound, rather than binding unconditionally.
/// </remarks>
public sealed record PutOptions
{
    /// <summary>The longest <see cref="TimeToLive"/>: ten years.</summary>
    public static readonly TimeSpan MaxTimeToLive = TimeSpan.FromDays(3650);

    /// <summary>
    /// Push the object's chunks down to every relay of the tree once it is bound (proactive
    /// staging), so that workers that ask later read it from their own site. The Put returns when
    /// every connected relay holds it. Ignored by the embedded store. Defaults to false.
    /// </summary>
    public bool Broadcast { get; init; }

    /// <summary>
    /// Compare-and-swap: bind only if the name is bound now at exactly this version (as
    /// <see cref="ObjectInfo.Version"/> reported it); otherwise the Put fails with
    /// <see cref="OmniStoreError.Conflict"/> and binds nothing. At least 1. Defaults to null (no condition).
    /// </summary>
    public long? IfVersion { get; init; }

    /// <summary>
    /// Bind only if no object is bound to the name now (it was never bound, or was deleted or
    /// expired); otherwise the Put fails with <see cref="OmniStoreError.Conflict"/>. Cannot be
    /// combined with <see cref="IfVersion"/>. Defaults to false.
    /// </summary>
    public bool IfNotExists { get; init; }

    /// <summary>
    /// Leave the binding as it is when the name is bound to identical content already (the same
    /// manifest: the same bytes and chunk size): no new version, no update pushed down the tree, and
    /// the current binding (its version and its expiry) is returned. Without it every Put makes a new
    /// version, identical content or not, so that a version counts Puts and every Put wakes the
    /// names' waiters. Defaults to false.
    /// </summary>
    public bool IfChanged { get; init; }

    /// <summary>
    /// How long the binding lives: once it has passed, the root unbinds the name as a Delete would,
    /// and the whole tree forgets it (<see cref="ObjectInfo.Expires"/> says when). Counted from when
    /// the root binds it, by the root's clock. More than zero, at most <see cref="MaxTimeToLive"/>.
    /// A later Put without it binds the name for good. Defaults to null (no expiry).
    /// </summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>Whether any condition or expiry is set: what a node of a protocol version before 8 cannot carry out.</summary>
    internal bool IsConditional => IfVersion is not null || IfNotExists || IfChanged || TimeToLive is not null;

    /// <summary>Checks the values, naming the bad one.</summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/>.</exception>
    internal void Validate()
    {
        if (IfVersion is < 1)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"PutOptions.IfVersion is {IfVersion}: versions start at 1.");
        }

        if (IfVersion is not null && IfNotExists)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, "PutOptions.IfVersion and IfNotExists contradict each other: a name bound at a version exists.");
        }

        if (TimeToLive is { } ttl && (ttl <= TimeSpan.Zero || ttl > MaxTimeToLive))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"PutOptions.TimeToLive is {ttl}: it must be more than zero and at most {MaxTimeToLive.TotalDays:0} days.");
        }
    }
}
