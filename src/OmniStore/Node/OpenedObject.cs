using OmniStore.Content;

namespace OmniStore.Node;

/// <summary>
/// One version of a named object, resolved once: every read through it reads that version's
/// chunks (content addressed, so they cannot change), whatever the name is rebound to meanwhile.
/// </summary>
/// <param name="Info">The binding the name had when it was opened.</param>
/// <param name="Manifest">The manifest of that version.</param>
/// <param name="Inline">
/// The whole first chunk when the node sent it along with the binding (a small object, GET_OBJECT),
/// already checked against the manifest; empty otherwise.
/// </param>
/// <param name="Pin">
/// What keeps the chunks in a local store while the object is open (the embedded store's pin), or
/// null; disposed with the object.
/// </param>
internal sealed record OpenedObject(ObjectInfo Info, Manifest Manifest, ReadOnlyMemory<byte> Inline, IDisposable? Pin) : IDisposable
{
    public string Name => Info.Name;

    public void Dispose() => Pin?.Dispose();
}
