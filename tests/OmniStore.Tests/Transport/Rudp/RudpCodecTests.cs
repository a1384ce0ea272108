using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// rudp's wire codec (docs/rudp.md, "Packets"): varints and packet numbers against RFC 9000's own
/// examples (appendix A), frames written and read back, and malformed frames refused with a reason,
/// never an exception.
/// </summary>
public sealed class RudpCodecTests
{
    [Theory]
    [InlineData("c2197c5eff14e88c", 151_288_809_941_952_652UL)]
    [InlineData("9d7f3e7d", 494_878_333UL)]
    [InlineData("7bbd", 15_293UL)]
    [InlineData("25", 37UL)]
    [InlineData("4025", 37UL)] // not the shortest form, still 37
    public void Varints_DecodeAsRfc9000AppendixA1Says(string hex, ulong expected)
    {
        var bytes = Convert.FromHexString(hex);
        Assert.True(Varint.TryRead(bytes, out ulong value, out int size));
        Assert.Equal(expected, value);
        Assert.Equal(bytes.Length, size);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(63UL)]
    [InlineData(64UL)]
    [InlineData(16_383UL)]
    [InlineData(16_384UL)]
    [InlineData((1UL << 30) - 1)]
    [InlineData(1UL << 30)]
    [InlineData(Varint.Max)]
    public void Varints_RoundTrip_InTheirShortestForm_AndATruncatedOneIsNotRead(ulong value)
    {
        var buffer = new byte[8];
        int size = Varint.Write(buffer, value);
        Assert.Equal(Varint.SizeOf(value), size);
        Assert.True(Varint.TryRead(buffer.AsSpan(0, size), out ulong back, out int read));
        Assert.Equal(value, back);
        Assert.Equal(size, read);
        Assert.False(Varint.TryRead(buffer.AsSpan(0, size - 1), out _, out _));
    }

    [Fact]
    public void AVarintAbove2To62_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Varint.SizeOf(Varint.Max + 1));
    }

    [Fact]
    public void PacketNumbers_EncodeAndDecodeAsRfc9000AppendixA2AndA3Say()
    {
        // A.2: acknowledged 0xabe8b3; 0xac5c02 needs 16 bits, 0xace8fe needs 24.
        Assert.Equal(2, PacketNumber.EncodedLength(0xac5c02, 0xabe8b3));
        Assert.Equal(3, PacketNumber.EncodedLength(0xace8fe, 0xabe8b3));
        // A.3: largest received 0xa82f30ea, a 16-bit 0x9b32 is 0xa82f9b32.
        Assert.Equal(0xa82f9b32L, PacketNumber.Decode(0xa82f30ea, 0x9b32, 2));
    }

    [Theory]
    [InlineData(-1L, 0L)]
    [InlineData(0L, 1L)]
    [InlineData(255L, 300L)]
    [InlineData(1_000_000L, 1_000_100L)]
    [InlineData(1_000_000L, 1_000_000L + 100_000L)]
    public void PacketNumbers_RoundTripThroughTheirTruncatedForm(long largestAcknowledged, long number)
    {
        int length = PacketNumber.EncodedLength(number, largestAcknowledged);
        uint truncated = (uint)(number & ((1L << (length * 8)) - 1));
        // The receiver has seen at least the acknowledged packet, at most the one before this.
        foreach (long largestReceived in new[] { largestAcknowledged, number - 1 })
        {
            Assert.Equal(number, PacketNumber.Decode(largestReceived, truncated, length));
        }
    }

    [Fact]
    public void AnAckWithRanges_ReadsBackRangeForRange()
    {
        AckRange[] ranges = [new(95, 100), new(80, 90), new(0, 10)];
        var buffer = new byte[64];
        int written = FrameWriter.WriteAck(buffer, ranges, ackDelayMicroseconds: 2400);

        var reader = new FrameReader(buffer.AsSpan(0, written));
        var read = new AckRange[FrameReader.MaxAckRanges];
        Assert.True(reader.TryRead(read, out var frame));
        Assert.Equal(RudpFrameType.Ack, frame.Type);
        Assert.Equal(100, frame.LargestAcknowledged);
        Assert.Equal(2400, frame.AckDelayMicroseconds);
        Assert.Equal(ranges, read[..frame.RangeCount]);
        Assert.False(reader.TryRead(read, out _));
        Assert.Null(reader.Problem);
    }

    [Fact]
    public void AnAckThatDoesNotFit_LeavesOutItsOldestRanges()
    {
        var ranges = Enumerable.Range(0, 40).Select(i => new AckRange(10_000 - (i * 100) - 10, 10_000 - (i * 100))).ToArray();
        var buffer = new byte[40];
        int written = FrameWriter.WriteAck(buffer, ranges, 0);

        var read = new AckRange[FrameReader.MaxAckRanges];
        var reader = new FrameReader(buffer.AsSpan(0, written));
        Assert.True(reader.TryRead(read, out var frame));
        Assert.InRange(frame.RangeCount, 2, 39);
        Assert.Equal(ranges[..frame.RangeCount], read[..frame.RangeCount]);
    }

    [Fact]
    public void AStreamFrame_TakesWhatFits_AndReadsBackWithItsOffsetAndFin()
    {
        var data = Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray();
        var packet = new byte[1200];
        int written = FrameWriter.WriteStream(packet, 1L << 40, data, fin: true, out int taken);
        Assert.InRange(taken, 1180, 1190);
        Assert.Equal(packet.Length, written);

        var reader = new FrameReader(packet.AsSpan(0, written));
        Assert.True(reader.TryRead(new AckRange[FrameReader.MaxAckRanges], out var frame));
        Assert.Equal(RudpFrameType.Stream, frame.Type); // not all of it: no FIN yet
        Assert.Equal(1L << 40, frame.Offset);
        Assert.Equal(data[..taken], frame.Data.ToArray());

        written = FrameWriter.WriteStream(packet, (1L << 40) + taken, data.AsSpan(taken, 10), fin: true, out taken);
        reader = new FrameReader(packet.AsSpan(0, written));
        Assert.True(reader.TryRead(new AckRange[FrameReader.MaxAckRanges], out frame));
        Assert.Equal(RudpFrameType.StreamFin, frame.Type);
        Assert.Equal(10, frame.Data.Length);
    }

    [Fact]
    public void ACloseReason_IsCutAtACharacterBoundary_AndReadsBack()
    {
        var packet = new byte[1200];
        int written = FrameWriter.WriteClose(packet, 7, new string('é', 200)); // 400 bytes of UTF-8
        var reader = new FrameReader(packet.AsSpan(0, written));
        Assert.True(reader.TryRead(new AckRange[FrameReader.MaxAckRanges], out var frame));
        Assert.Equal(7, frame.ErrorCode);
        Assert.Equal(new string('é', FrameReader.MaxReasonLength / 2), System.Text.Encoding.UTF8.GetString(frame.Data));
    }

    public static TheoryData<string, string> Malformed => new()
    {
        { "ff", "unknown frame type 0xff" },
        { "02" + "0a" + "00" + "00" + "0b", "below packet 0" },            // ACK: largest 10, first range 11
        { "02" + "0a" + "00" + "01" + "00" + "0a" + "00", "below packet 0" }, // a second range under 0
        { "02" + "4064" + "00" + "7fff" + "00", "ranges" },                   // 16384 ranges
        { "03" + "00" + "10" + "0102", "STREAM frame of 16 bytes" },
        { "08" + "00" + "4101", "CONNECTION_CLOSE reason of 257 bytes" },
        { "06" + "0102", "shorter than 8 bytes" },
        { "02" + "0a", "cut short" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFrames_EndTheReadingWithAReason(string hex, string expected)
    {
        var reader = new FrameReader(Convert.FromHexString(hex));
        var ranges = new AckRange[FrameReader.MaxAckRanges];
        while (reader.TryRead(ranges, out _))
        {
        }

        Assert.NotNull(reader.Problem);
        Assert.Contains(expected, reader.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryTruncationOfAValidPacket_IsReadWithoutAnException()
    {
        var packet = new byte[200];
        int at = FrameWriter.WriteAck(packet, [new AckRange(50, 60), new AckRange(1, 40)], 100);
        at += FrameWriter.WriteStream(packet.AsSpan(at), 12345, new byte[40], fin: false, out _);
        at += FrameWriter.WriteLimit(packet.AsSpan(at), RudpFrameType.MaxData, 1L << 24);
        at += FrameWriter.WriteClose(packet.AsSpan(at), 3, "bye");
        var ranges = new AckRange[FrameReader.MaxAckRanges];
        for (int length = 0; length <= at; length++)
        {
            var reader = new FrameReader(packet.AsSpan(0, length));
            int frames = 0;
            while (reader.TryRead(ranges, out _))
            {
                frames++;
            }

            Assert.True(length == at ? reader.Problem is null && frames == 4 : frames <= 4);
        }
    }
}
