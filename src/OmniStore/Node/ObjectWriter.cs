using OmniStore.Content;
using OmniStore.Storage;

namespace OmniStore.Node;

/// <summary>
/// Turns a sequence of chunks into stored chunks and a stored manifest. Every chunk it relies on
/// (written now or already present) stays pinned until the writer is disposed, after the binding
/// is committed, so that a reclamation pass cannot drop it in between.
/// </summary>
internal sealed class ObjectWriter(ContentStore store, int chunkSize) : IDisposable
{
    private readonly List<ChunkId> _chunks = [];
    private readonly List<ContentPin> _pins = [];
    private long _length;

    public int ChunksWritten { get; private set; }

    public void Add(ReadOnlySpan<byte> chunk)
    {
        if (_length % chunkSize != 0)
        {
            throw new InvalidOperationException("Only the last chunk of an object may be shorter than the chunk size.");
        }

        if (_chunks.Count >= ChunkLayout.MaxChunkCount)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The object exceeds {ChunkLayout.MaxLength(chunkSize)} bytes, the most a chunk size of {chunkSize} allows.");
        }

        var id = ChunkId.Compute(chunk);
        _pins.Add(store.Pin([id]));
        if (store.WriteChunk(id, chunk))
        {
            ChunksWritten++;
        }

        _chunks.Add(id);
        _length += chunk.Length;
    }

    public Manifest Complete()
    {
        var manifest = new Manifest(new ChunkLayout(_length, chunkSize), _chunks);
        _pins.Add(store.Pin(manifest));
        store.WriteManifest(manifest);
        return manifest;
    }

    public void Dispose()
    {
        foreach (var pin in _pins)
        {
            pin.Dispose();
        }

        _pins.Clear();
    }
}
