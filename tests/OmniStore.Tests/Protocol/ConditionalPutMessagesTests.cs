using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Storage.Internal;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Protocol;

/// <summary>
/// The fields of protocol version 8 as a peer may send them (docs/protocol.md, "Conditional Puts"),
/// and the binding record that keeps an expiry (docs/formats.md): every value checked, the older
/// layouts read as before.
/// </summary>
public sealed class ConditionalPutMessagesTests
{
    private static readonly ManifestId Manifest = TestManifests.Of(TestData.Random(100, 1), ChunkLayout.MinChunkSize).Id;

    [Fact]
    public void Bind_WithEveryCondition_RoundTrips_AndWithoutAny_IsVersion7sLayout()
    {
        var bind = new BindMessage("jobs/1", Manifest, Broadcast: true, new PutConditions(42, false, true, 600_000));
        Assert.Equal(bind, BindMessage.Decode(bind.Encode()));

        var plain = new BindMessage("jobs/1", Manifest, Broadcast: false).Encode();
        Assert.Equal(ManifestId.Size + 1 + 6, plain.Length);
        Assert.Equal(0, plain[ManifestId.Size]);
        Assert.True(BindMessage.Decode(plain).Conditions.IsEmpty);
    }

    [Theory]
    [InlineData(-1L, 1L)]                 // a version below 1
    [InlineData(0L, 1L)]                  // version 0 with its flag set
    [InlineData(1L, -5L)]                 // a negative time to live
    [InlineData(1L, 0L)]                  // zero, with its flag set
    [InlineData(1L, 315_360_000_001L)]    // past ten years
    [InlineData(1L, long.MinValue)]
    public void Bind_WithAValueOutOfRange_IsInvalidArgument(long version, long ttl)
    {
        var payload = Bind(PutConditions.IfVersionFlag | PutConditions.TimeToLiveFlag, version, ttl);
        var error = Assert.Throws<OmniStoreException>(() => BindMessage.Decode(payload));
        Assert.Equal(OmniStoreError.InvalidArgument, error.Error);
    }

    [Fact]
    public void Bind_AskingForAVersionAndForNoBinding_IsInvalidArgument_AnUnknownFlagOrAFieldCutShortIsMalformed()
    {
        Assert.Equal(OmniStoreError.InvalidArgument, Assert.Throws<OmniStoreException>(() => BindMessage.Decode(Bind(PutConditions.IfVersionFlag | PutConditions.IfNotExistsFlag, 3))).Error);
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => BindMessage.Decode(Bind(1 << 5))).Error);
        var cut = new byte[ManifestId.Size + 1 + 4];
        cut[ManifestId.Size] = PutConditions.IfVersionFlag;
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => BindMessage.Decode(cut)).Error);
    }

    [Fact]
    public void PutObject_CarriesTheConditions_AndRefusesBadOnes()
    {
        var data = TestData.Random(3000, 2);
        var manifest = TestManifests.Of(data, ChunkLayout.MinChunkSize);
        var conditions = new PutConditions(0, true, true, 1500);
        var put = PutObjectMessage.Decode((byte[])[.. PutObjectMessage.EncodeHead("r/1", manifest, broadcast: false, conditions), .. data]);
        Assert.Equal((conditions, "r/1", false), (put.Conditions, put.Name, put.Broadcast));

        var negative = PutObjectMessage.EncodeHead("r/1", manifest, broadcast: false, new PutConditions(0, false, false, 1500));
        BinaryPrimitives.WriteInt64LittleEndian(negative.AsSpan(1), -1500);
        Assert.Equal(OmniStoreError.InvalidArgument, Assert.Throws<OmniStoreException>(() => PutObjectMessage.Decode((byte[])[.. negative, .. data])).Error);
    }

    [Fact]
    public void Binding_CarriesItsExpiryToVersion8_AndLeavesItOutForOlderPeers()
    {
        var binding = new BindingMessage("lease", 4, Manifest, IsBound: true, ExpiresUnixMs: 1_800_000_000_123);
        Assert.Equal(binding, BindingMessage.Decode(binding.Encode(8)));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_123), binding.Expires);

        var older = binding.Encode(7);
        Assert.Equal(new BindingMessage("lease", 4, Manifest, true).Encode(7), older);
        Assert.Equal(1, older[8 + ManifestId.Size]);
        Assert.Equal(binding with { ExpiresUnixMs = 0 }, BindingMessage.Decode(older));
    }

    [Fact]
    public void Binding_WithAnExpiryButNotBound_OrAnExpiryBeforeTheEpoch_IsMalformed()
    {
        var payload = new BindingMessage("lease", 4, Manifest, IsBound: true, ExpiresUnixMs: 1000).Encode(8);
        var unbound = payload.ToArray();
        unbound[8 + ManifestId.Size] = 2;
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => BindingMessage.Decode(unbound)).Error);
        var negative = payload.ToArray();
        BinaryPrimitives.WriteInt64LittleEndian(negative.AsSpan(9 + ManifestId.Size), -1);
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => BindingMessage.Decode(negative)).Error);
    }

    [Fact]
    public void BindingRecord_OfAStoreWrittenBeforeExpiries_ReadsAsOneThatNeverExpires_AndOneWithAnExpiryRoundTrips()
    {
        // The 25-byte record every store written before this version holds (docs/formats.md).
        var old = new byte[Binding.EncodedSize];
        BinaryPrimitives.WriteInt64LittleEndian(old, 9);
        Manifest.Write(old.AsSpan(8));
        old[24] = 1;
        Assert.Equal(new Binding(Manifest, 9, true), Binding.Read(old));
        Assert.False(Binding.Read(old).Expires);

        var expiring = new Binding(Manifest, 10, true, 1_800_000_000_000);
        Assert.Equal(Binding.EncodedSizeWithExpiry, expiring.ToBytes().Length);
        Assert.Equal(old, new Binding(Manifest, 9, true).ToBytes());
        Assert.Equal(expiring, Binding.Read(expiring.ToBytes()));

        var zero = expiring.ToBytes();
        zero.AsSpan(Binding.EncodedSize).Clear();
        Assert.Equal(OmniStoreError.Corrupt, Assert.Throws<OmniStoreException>(() => Binding.Read(zero)).Error);
    }

    [Fact]
    public void JournalRecord_OfAnExpiringBinding_RoundTrips()
    {
        var data = TestData.Random(500, 4);
        var manifest = TestManifests.Of(data, ChunkLayout.MinChunkSize);
        var record = new JournalRecord("lease", new Binding(manifest.Id, 2, true, 1_800_000_000_000), manifest, [data]);
        var decoded = JournalRecord.Decode(record.Encode(), ChunkLayout.MinChunkSize);
        Assert.Equal(record.Binding, decoded.Binding);
        Assert.Equal(data, decoded.Chunks[0].ToArray());
    }

    private static byte[] Bind(int flags, long version = 1, long ttl = 1)
    {
        var name = "n"u8;
        var payload = new List<byte>();
        var id = new byte[ManifestId.Size];
        Manifest.Write(id);
        payload.AddRange(id);
        payload.Add((byte)flags);
        var field = new byte[8];
        if ((flags & PutConditions.IfVersionFlag) != 0)
        {
            BinaryPrimitives.WriteInt64LittleEndian(field, version);
            payload.AddRange(field);
        }

        if ((flags & PutConditions.TimeToLiveFlag) != 0)
        {
            BinaryPrimitives.WriteInt64LittleEndian(field, ttl);
            payload.AddRange(field);
        }

        payload.AddRange(name.ToArray());
        return [.. payload];
    }
}
