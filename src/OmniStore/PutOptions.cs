namespace OmniStore;

/// <summary>How a Put is carried out.</summary>
public sealed record PutOptions
{
    /// <summary>
    /// Push the object's chunks down to every relay of the tree once it is bound (proactive
    /// staging), so that workers that ask later read it from their own site. The Put returns when
    /// every connected relay holds it. Ignored by the embedded store. Defaults to false.
    /// </summary>
    public bool Broadcast { get; init; }
}
