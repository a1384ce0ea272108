using System.Buffers.Binary;
using OmniStore.Content;
using OmniStore.Protocol;
using OmniStore.Tests.Infrastructure;

namespace OmniStore.Tests.Protocol;

/// <summary>OBJECT as a peer may send it: every length checked before use, the bytes checked against the manifest, the manifest against the binding.</summary>
public sealed class ObjectMessagesTests
{
    private static readonly byte[] Data = TestData.Random(5000, 3);
    private static readonly Manifest OneChunk = new(new ChunkLayout(Data.Length, ChunkLayout.DefaultChunkSize), [ChunkId.Compute(Data)]);
    private static readonly BindingMessage Bound = new("a/b", 7, OneChunk.Id, IsBound: true);

    [Fact]
    public void AnAnswerWithEverything_ReadsBack()
    {
        var payload = Answer(Bound, OneChunk.ToBytes(), Data);

        var (binding, manifest, chunk) = ObjectMessages.ReadAnswer(payload);

        Assert.Equal(Bound, binding);
        Assert.Equal(OneChunk.Id, manifest!.Id);
        Assert.Equal(Data, payload[chunk]);
    }

    [Fact]
    public void AnAnswerWithTheBindingAlone_ReadsBack()
    {
        var (binding, manifest, chunk) = ObjectMessages.ReadAnswer(ObjectMessages.EncodeHead(Bound, null, withChunk: false));
        Assert.Equal(Bound, binding);
        Assert.Null(manifest);
        Assert.Equal(0, chunk.End.Value - chunk.Start.Value);
    }

    [Fact]
    public void BytesOtherThanTheManifestsChunk_AreCorrupt()
    {
        var other = (byte[])Data.Clone();
        other[4999] ^= 1;
        var error = Assert.Throws<OmniStoreException>(() => ObjectMessages.ReadAnswer(Answer(Bound, OneChunk.ToBytes(), other)));
        Assert.Equal(OmniStoreError.Corrupt, error.Error);

        error = Assert.Throws<OmniStoreException>(() => ObjectMessages.ReadAnswer(Answer(Bound, OneChunk.ToBytes(), Data[..4999])));
        Assert.Equal(OmniStoreError.Corrupt, error.Error);
    }

    [Fact]
    public void AManifestOtherThanTheBindings_IsRefused()
    {
        var another = new Manifest(new ChunkLayout(Data.Length + 1, ChunkLayout.DefaultChunkSize), [ChunkId.Compute([.. Data, 1])]);
        Assert.ThrowsAny<OmniStoreException>(() => ObjectMessages.ReadAnswer(Answer(Bound, another.ToBytes(), null)));
    }

    [Theory]
    [InlineData(4, "bad OBJECT flags 4")]
    [InlineData(2, "bad OBJECT flags 2")] // bytes without a manifest to check them against
    public void UnknownFlags_AreAProtocolError(byte flags, string expected)
    {
        var payload = ObjectMessages.EncodeHead(Bound, null, withChunk: false);
        payload[^1] = flags;
        var error = Assert.Throws<OmniStoreException>(() => ObjectMessages.ReadAnswer(payload));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(ObjectMessages.MaxInlineManifest + 1)]
    [InlineData(int.MaxValue)]
    public void AManifestLengthOutOfRange_IsRefusedBeforeAnythingIsRead(int announced)
    {
        var payload = ObjectMessages.EncodeHead(Bound, OneChunk.ToBytes(), withChunk: false);
        int at = 2 + Bound.Encode().Length + 1;
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(at), announced);
        var error = Assert.Throws<OmniStoreException>(() => ObjectMessages.ReadAnswer(payload));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
    }

    [Fact]
    public void TruncatedAnswers_AndTrailingBytes_AreAProtocolError()
    {
        var whole = ObjectMessages.EncodeHead(Bound, OneChunk.ToBytes(), withChunk: false);
        for (int length = 0; length < whole.Length; length++)
        {
            Assert.ThrowsAny<OmniStoreException>(() => ObjectMessages.ReadAnswer(whole.AsSpan(0, length)));
        }

        Assert.ThrowsAny<OmniStoreException>(() => ObjectMessages.ReadAnswer([.. whole, 0]));
    }

    [Fact]
    public void AnAnswerForANameThatIsNotBound_IsRefused()
    {
        var error = Assert.Throws<OmniStoreException>(() => ObjectMessages.ReadAnswer(ObjectMessages.EncodeHead(Bound with { IsBound = false }, null, withChunk: false)));
        Assert.Equal(OmniStoreError.ProtocolError, error.Error);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void ARequestForANegativeInlineLength_IsRefused(int inline)
    {
        var payload = ObjectMessages.EncodeRequest("a", 0);
        BinaryPrimitives.WriteInt32LittleEndian(payload, inline);
        Assert.Equal(OmniStoreError.ProtocolError, Assert.Throws<OmniStoreException>(() => ObjectMessages.ReadRequest(payload)).Error);
    }

    [Fact]
    public void ARequestForMoreThanTheInlineLimit_IsClampedToIt()
    {
        var (name, inline) = ObjectMessages.ReadRequest(ObjectMessages.EncodeRequest("a/b", int.MaxValue));
        Assert.Equal("a/b", name);
        Assert.Equal(ObjectMessages.MaxInlineChunk, inline);
        Assert.Equal(ObjectMessages.MaxAnswerLength(ObjectMessages.MaxInlineChunk), ObjectMessages.MaxAnswerLength(int.MaxValue));
    }

    private static byte[] Answer(BindingMessage binding, byte[] manifest, byte[]? chunk) =>
        [.. ObjectMessages.EncodeHead(binding, manifest, chunk is not null), .. chunk ?? []];
}
