using OmniStore.Content;

namespace OmniStore.Storage;

/// <summary>Keeps a manifest and its chunks from eviction and reclamation until disposed.</summary>
internal sealed class ContentPin : IDisposable
{
    private ContentStore? _store;
    private readonly ChunkId[] _chunks;
    private readonly ManifestId? _manifest;

    internal ContentPin(ContentStore store, ChunkId[] chunks, ManifestId? manifest)
    {
        _store = store;
        _chunks = chunks;
        _manifest = manifest;
    }

    public void Dispose() => Interlocked.Exchange(ref _store, null)?.Unpin(_chunks, _manifest);
}
