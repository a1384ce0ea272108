using OmniStore.Content;

namespace OmniStore.Tests.Content;

public sealed class ContentModelTests
{
    [Fact]
    public void ChunkId_TextForm_IsWhatXxhsumH2Prints()
    {
        // docs/formats.md: printf 'OmniStore' | xxhsum -H2  ->  cb6bacb22e29665588b61efeb3ab3948
        var id = ChunkId.Compute("OmniStore"u8);
        Assert.Equal("cb6bacb22e29665588b61efeb3ab3948", id.ToString());
        Assert.Equal(id, ChunkId.Parse(id.ToString()));
        Span<byte> canonical = stackalloc byte[ChunkId.Size];
        id.Write(canonical);
        Assert.Equal(Convert.FromHexString("cb6bacb22e29665588b61efeb3ab3948"), canonical.ToArray());
        Assert.Equal(id, ChunkId.Read(canonical));
    }

    [Theory]
    [InlineData("")]
    [InlineData("cb6bacb22e29665588b61efeb3ab394")]
    [InlineData("zz6bacb22e29665588b61efeb3ab3948")]
    public void ChunkId_TryParse_RejectsMalformedText(string text) => Assert.False(ChunkId.TryParse(text, out _));

    [Theory]
    [InlineData(0L, 0)]
    [InlineData(1L, 1)]
    [InlineData(65535L, 1)]
    [InlineData(65536L, 1)]
    [InlineData(65537L, 2)]
    public void ChunkLayout_CountsChunks_AndSizesTheLastOne(long length, int count)
    {
        var layout = new ChunkLayout(length, ChunkLayout.MinChunkSize);
        Assert.Equal(count, layout.ChunkCount);
        if (count > 0)
        {
            Assert.Equal(length - layout.OffsetOf(count - 1), layout.LengthOf(count - 1));
        }
    }

    [Theory]
    [InlineData(ChunkLayout.MinChunkSize - 1)]
    [InlineData(ChunkLayout.MaxChunkSize + 1)]
    [InlineData(0)]
    public void ChunkLayout_RejectsChunkSizesOutOfRange(int chunkSize) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkLayout(10, chunkSize));

    [Fact]
    public void ChunkLayout_RejectsObjectsNeedingTooManyChunks() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkLayout(ChunkLayout.MaxLength(ChunkLayout.MinChunkSize) + 1, ChunkLayout.MinChunkSize));

    [Fact]
    public void Manifest_RoundTripsThroughItsBinaryForm_AndIsAddressedByItsHash()
    {
        var ids = Enumerable.Range(0, 3).Select(i => ChunkId.Compute(new[] { (byte)i })).ToArray();
        var manifest = new Manifest(new ChunkLayout((2 * ChunkLayout.MinChunkSize) + 5, ChunkLayout.MinChunkSize), ids);
        var bytes = manifest.ToBytes();
        Assert.Equal(Manifest.HeaderSize + (3 * ChunkId.Size), bytes.Length);
        Assert.Equal("OMNM"u8.ToArray(), bytes[..4]);
        Assert.Equal(ManifestId.Compute(bytes), manifest.Id);

        var parsed = Manifest.Parse(bytes, manifest.Id);
        Assert.Equal(ids, parsed.Chunks);
        Assert.Equal(manifest.Length, parsed.Length);
    }

    [Fact]
    public void Manifest_Parse_RejectsEveryKindOfDamage_AsCorrupt()
    {
        var manifest = new Manifest(new ChunkLayout(ChunkLayout.MinChunkSize + 1, ChunkLayout.MinChunkSize), [default, default]);
        var good = manifest.ToBytes();
        var cases = new List<byte[]>
        {
            good.AsSpan(0, 10).ToArray(),                         // truncated header
            good.Append((byte)0).ToArray(),                       // trailing byte
            Mutate(good, 0, (byte)'X'),                           // magic
            Mutate(good, 4, 2),                                   // unknown version
            Mutate(good, 20, 3),                                  // count does not match length
            Mutate(good, 18, 0),                                  // chunk size below minimum
            Mutate(good, 15, 0x80),                               // negative length
        };
        foreach (var damaged in cases)
        {
            var error = Assert.Throws<OmniStoreException>(() => Manifest.Parse(damaged));
            Assert.Equal(OmniStoreError.Corrupt, error.Error);
        }

        // Well-formed but not the manifest that was asked for.
        var other = Mutate(good, Manifest.HeaderSize, 1);
        Assert.Equal(OmniStoreError.Corrupt, Assert.Throws<OmniStoreException>(() => Manifest.Parse(other, manifest.Id)).Error);
    }

    private static byte[] Mutate(byte[] source, int index, byte value)
    {
        var copy = source.ToArray();
        copy[index] = value;
        return copy;
    }
}
