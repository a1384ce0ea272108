using System.Net;
using FsCheck;
using FsCheck.Fluent;
using OmniStore.Transport.Rudp.Internal;

namespace OmniStore.Tests.Transport.Rudp;

/// <summary>
/// Every datagram a peer (or anyone who can reach the socket) may send goes through the packet
/// header, frame and handshake readers: random bytes, and well-formed datagrams with bytes flipped,
/// cut short, lengthened or spliced. Each one is read or refused with a reason; never an
/// exception, and everything read lies inside the datagram and within the protocol's limits.
/// </summary>
public sealed class RudpReaderFuzzTests
{
    private const int Runs = 20_000;

    private static readonly ConnectionId To = ConnectionId.NewRandom();
    private static readonly ConnectionId From = ConnectionId.NewRandom();

    /// <summary>A short-header packet with one frame of every kind.</summary>
    private static byte[] ShortPacket()
    {
        var packet = new byte[1472];
        int at = PacketHeader.WriteShort(packet, To, 0x1234_5678, 4);
        at += FrameWriter.WriteAck(packet.AsSpan(at), [new AckRange(90, 100), new AckRange(40, 80), new AckRange(3, 7)], 1_500);
        at += FrameWriter.WriteStream(packet.AsSpan(at), 1L << 33, new byte[300], fin: false, out _);
        at += FrameWriter.WriteLimit(packet.AsSpan(at), RudpFrameType.MaxData, 16L << 20);
        at += FrameWriter.WriteLimit(packet.AsSpan(at), RudpFrameType.DataBlocked, 4L << 20);
        packet[at++] = (byte)RudpFrameType.Ping;
        at += FrameWriter.WriteStream(packet.AsSpan(at), (1L << 33) + 300, new byte[40], fin: true, out _);
        at += FrameWriter.WriteClose(packet.AsSpan(at), 7, "a reason");
        packet[at++] = (byte)RudpFrameType.Padding;
        return packet[..at];
    }

    /// <summary>An Initial as a client sends it after a Retry: token and parameters, padded to 1200 bytes.</summary>
    private static byte[] Initial()
    {
        var packet = new byte[PacketHeader.MinInitialDatagram];
        int at = PacketHeader.WriteLong(packet, PacketType.Initial, PacketHeader.Version1, To, From);
        at += Varint.Write(packet.AsSpan(at), RetryCookie.TokenSize);
        at += RetryCookie.TokenSize; // zeros: a token that does not validate
        new RudpParameters(30_000, 25_000, 1 << 20, 1472).Write(packet.AsSpan(at));
        return packet;
    }

    private static Gen<byte[]> Mutated(byte[] valid) =>
        from flips in Gen.Choose(0, 8)
        from positions in Gen.Choose(0, valid.Length - 1).ArrayOf(flips)
        from values in Gen.Choose(0, 255).ArrayOf(flips)
        from cut in Gen.Frequency((3, Gen.Constant(valid.Length)), (1, Gen.Choose(0, valid.Length)))
        from tail in Gen.Frequency((4, Gen.Constant(Array.Empty<byte>())), (1, ArbMap.Default.GeneratorFor<byte[]>()))
        select Mutate(valid, positions, values, cut, tail);

    private static byte[] Mutate(byte[] valid, int[] positions, int[] values, int cut, byte[] tail)
    {
        var bytes = (byte[])valid.Clone();
        for (int i = 0; i < positions.Length; i++)
        {
            bytes[positions[i]] = (byte)values[i];
        }

        return [.. bytes.AsSpan(0, cut), .. tail];
    }

    private static readonly Gen<byte[]> Datagrams = Gen.Frequency(
        (1, ArbMap.Default.GeneratorFor<byte[]>()),
        (4, Mutated(ShortPacket())),
        (2, Mutated(Initial())));

    [Fact]
    public void EveryDatagram_IsReadOrRefusedWithAReason_NeverAnException_AndWhatIsReadLiesInsideIt()
    {
        var cookie = new RetryCookie();
        var client = new IPEndPoint(IPAddress.Parse("198.18.0.9"), 5300);
        var ranges = new AckRange[FrameReader.MaxAckRanges];
        Prop.ForAll(Datagrams.ToArbitrary(), datagram =>
        {
            if (!PacketHeader.TryRead(datagram, out var header, out string? problem))
            {
                return !string.IsNullOrEmpty(problem);
            }

            if (header.Length > datagram.Length || header.PacketNumberLength is < 0 or > 4)
            {
                return false;
            }

            return header.Type == PacketType.Short
                ? FramesAreSound(datagram.AsSpan(header.Length), ranges)
                : HandshakeIsSound(datagram.AsSpan(header.Length), header, cookie, client);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(Runs));
    }

    private static bool FramesAreSound(ReadOnlySpan<byte> payload, AckRange[] ranges)
    {
        var reader = new FrameReader(payload);
        int frames = 0;
        while (reader.TryRead(ranges, out var frame))
        {
            if (++frames > payload.Length)
            {
                return false; // a frame takes at least its type byte
            }

            switch (frame.Type)
            {
                case RudpFrameType.Ack:
                    if (frame.RangeCount is < 1 or > FrameReader.MaxAckRanges || frame.AckDelayMicroseconds < 0)
                    {
                        return false;
                    }

                    for (int i = 0; i < frame.RangeCount; i++)
                    {
                        var range = ranges[i];
                        if (range.Smallest < 0 || range.Largest < range.Smallest || range.Largest > frame.LargestAcknowledged
                            || (i > 0 && range.Largest >= ranges[i - 1].Smallest))
                        {
                            return false;
                        }
                    }

                    break;
                case RudpFrameType.Stream or RudpFrameType.StreamFin:
                    if (frame.Offset < 0 || frame.Data.Length > payload.Length || frame.Offset + frame.Data.Length > (long)Varint.Max)
                    {
                        return false;
                    }

                    break;
                case RudpFrameType.ConnectionClose:
                    if (frame.Data.Length > FrameReader.MaxReasonLength || frame.ErrorCode < 0)
                    {
                        return false;
                    }

                    break;
                case RudpFrameType.PathChallenge or RudpFrameType.PathResponse:
                    if (frame.Data.Length != FrameReader.PathDataSize)
                    {
                        return false;
                    }

                    break;
            }
        }

        return reader.Problem is null || reader.Problem.Length > 0;
    }

    /// <summary>As the listener reads an Initial: the token's length, the token checked, the parameters.</summary>
    private static bool HandshakeIsSound(ReadOnlySpan<byte> rest, PacketHeader header, RetryCookie cookie, IPEndPoint client)
    {
        if (!Varint.TryRead(rest, out ulong tokenLength, out int size) || tokenLength > PacketHeader.MaxTokenLength || (ulong)(rest.Length - size) < tokenLength)
        {
            return true; // refused, as the listener refuses it
        }

        var token = rest.Slice(size, (int)tokenLength);
        if (cookie.Validate(token, client, header.Source, header.Destination))
        {
            return false; // nobody can forge a token by flipping bytes
        }

        var parameters = RudpParameters.TryRead(rest[(size + (int)tokenLength)..], out string? problem);
        return parameters is { } p
            ? p.IdleTimeoutMs is >= 1_000 and <= 3_600_000 && p.MaxAckDelayUs is >= 1_000 and <= 1_000_000
                && p.InitialMaxData is >= RudpParameters.MinMaxData and <= int.MaxValue && p.MaxDatagram is >= PacketHeader.MinInitialDatagram and <= DatagramSocket.MaxDatagram
            : !string.IsNullOrEmpty(problem);
    }
}
