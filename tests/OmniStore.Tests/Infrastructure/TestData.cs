namespace OmniStore.Tests.Infrastructure;

public static class TestData
{
    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Random(long length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}

internal static class TestManifests
{
    /// <summary>The manifest of <paramref name="data"/> cut in chunks of <paramref name="chunkSize"/> bytes.</summary>
    public static OmniStore.Content.Manifest Of(byte[] data, int chunkSize)
    {
        var layout = new OmniStore.Content.ChunkLayout(data.Length, chunkSize);
        return new OmniStore.Content.Manifest(layout, Enumerable.Range(0, layout.ChunkCount).Select(i => OmniStore.Content.ChunkId.Compute(data.AsSpan((int)layout.OffsetOf(i), layout.LengthOf(i)))));
    }

    /// <summary>The bytes of chunk <paramref name="index"/> of <paramref name="manifest"/>'s object <paramref name="data"/>.</summary>
    public static ReadOnlySpan<byte> Chunk(OmniStore.Content.Manifest manifest, byte[] data, int index) =>
        data.AsSpan((int)manifest.Layout.OffsetOf(index), manifest.Layout.LengthOf(index));
}
