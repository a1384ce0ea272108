using System.Buffers;
using OmniStore.Protocol;

namespace OmniStore.Tests.Protocol;

public sealed class FrameParserTests
{
    private static byte[] Frame(FrameType type, FrameFlags flags, uint stream, byte[] payload)
    {
        var bytes = new byte[ProtocolLimits.HeaderSize + payload.Length];
        new FrameHeader(type, flags, stream, payload.Length).Write(bytes);
        payload.CopyTo(bytes, ProtocolLimits.HeaderSize);
        return bytes;
    }

    /// <summary>A sequence made of one segment per byte: the worst split a socket can produce.</summary>
    private static ReadOnlySequence<byte> OneByteSegments(byte[] bytes) => OmniStore.Tests.Fuzzing.FrameStreams.Segments(bytes, _ => 1);

    [Fact]
    public void TryRead_SplitIntoOneByteSegments_ReadsEveryFrame_AndAsksForMoreOnEveryPrefix()
    {
        var payloads = new[] { Array.Empty<byte>(), "hello"u8.ToArray(), Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray() };
        var stream = payloads.SelectMany((p, i) => Frame(FrameType.Resolve, FrameFlags.End, (uint)(i * 2) + 1, p)).ToArray();

        // Every strict prefix of the first frame is "need more data", never an exception.
        int firstLength = ProtocolLimits.HeaderSize;
        for (int cut = 0; cut < firstLength; cut++)
        {
            var prefix = OneByteSegments(stream[..cut]);
            Assert.Equal(FrameParseStatus.NeedMoreData, FrameParser.TryRead(ref prefix, out _, out _, out _));
        }

        var buffer = OneByteSegments(stream);
        for (int i = 0; i < payloads.Length; i++)
        {
            Assert.Equal(FrameParseStatus.Frame, FrameParser.TryRead(ref buffer, out var header, out var payload, out _));
            Assert.Equal((uint)(i * 2) + 1, header.Stream);
            Assert.Equal(FrameType.Resolve, header.Type);
            Assert.Equal(payloads[i], payload.ToArray());
        }

        Assert.Equal(FrameParseStatus.NeedMoreData, FrameParser.TryRead(ref buffer, out _, out _, out _));
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void TryRead_OversizeFrame_IsMalformed_BeforeItsPayloadArrives()
    {
        var header = new byte[ProtocolLimits.HeaderSize];
        new FrameHeader(FrameType.Chunk, FrameFlags.End, 1, ProtocolLimits.MaxFramePayload + 1).Write(header);
        var buffer = OneByteSegments(header);
        Assert.Equal(FrameParseStatus.Malformed, FrameParser.TryRead(ref buffer, out _, out _, out string? problem));
        Assert.Contains("length", problem);
    }

    [Theory]
    [InlineData(99, 1, 0)]   // unknown type
    [InlineData(16, 4, 0)]   // unknown flag
    [InlineData(16, 1, 7)]   // reserved bits
    public void TryRead_BadHeaderFields_AreMalformed(byte type, byte flags, byte reserved)
    {
        var frame = Frame(FrameType.Resolve, FrameFlags.End, 1, [1, 2, 3]);
        frame[4] = type;
        frame[5] = flags;
        frame[6] = reserved;
        var buffer = new ReadOnlySequence<byte>(frame);
        Assert.Equal(FrameParseStatus.Malformed, FrameParser.TryRead(ref buffer, out _, out _, out _));
    }

    [Fact]
    public void TryRead_LengthShorterThanTheHeader_IsMalformed()
    {
        var frame = Frame(FrameType.Resolve, FrameFlags.End, 1, []);
        frame[0] = 3;
        var buffer = new ReadOnlySequence<byte>(frame);
        Assert.Equal(FrameParseStatus.Malformed, FrameParser.TryRead(ref buffer, out _, out _, out _));
    }
}
