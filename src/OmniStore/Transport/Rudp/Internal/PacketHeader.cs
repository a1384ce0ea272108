using System.Buffers.Binary;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// A packet's header, read from or written to the start of a datagram (docs/rudp.md, "Packets").
/// Long headers (the handshake) carry the version and both connection ids; short headers the
/// destination id and a truncated packet number. Reading never throws: a datagram that is not a
/// well-formed header is refused with a reason and dropped (and counted) by the socket.
/// </summary>
internal readonly record struct PacketHeader
{
    /// <summary>The version this build speaks.</summary>
    public const uint Version1 = 1;

    /// <summary>The smallest datagram carrying an Initial: a path must carry it, and an answer is never larger.</summary>
    public const int MinInitialDatagram = 1200;

    /// <summary>The most bytes of a Retry's token, and of an Initial's.</summary>
    public const int MaxTokenLength = 64;

    private const byte LongForm = 0xC0;
    private const byte ShortForm = 0x40;

    public PacketType Type { get; init; }

    /// <summary>Long headers: the version (0 in VersionNegotiation).</summary>
    public uint Version { get; init; }

    public ConnectionId Destination { get; init; }

    /// <summary>Long headers: the sender's connection id.</summary>
    public ConnectionId Source { get; init; }

    /// <summary>Short headers: the packet number, truncated to <see cref="PacketNumberLength"/> bytes.</summary>
    public uint TruncatedPacketNumber { get; init; }

    /// <summary>Short headers: 1 to 4.</summary>
    public int PacketNumberLength { get; init; }

    /// <summary>Bytes of the header; the payload (frames, or a token) follows.</summary>
    public int Length { get; init; }

    /// <summary>The fixed part of a long header: flags, version, two length-prefixed ids.</summary>
    public const int LongHeaderLength = 1 + 4 + 1 + ConnectionId.Size + 1 + ConnectionId.Size;

    public static int ShortHeaderLength(int packetNumberLength) => 1 + ConnectionId.Size + packetNumberLength;

    public static int WriteLong(Span<byte> destination, PacketType type, uint version, ConnectionId to, ConnectionId from)
    {
        if (type is PacketType.Short || destination.Length < LongHeaderLength)
        {
            throw new ArgumentException($"A long header of type {type} does not fit {destination.Length} bytes.", nameof(type));
        }

        destination[0] = (byte)(LongForm | ((byte)type << 4));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[1..], version);
        destination[5] = ConnectionId.Size;
        to.Write(destination[6..]);
        destination[6 + ConnectionId.Size] = ConnectionId.Size;
        from.Write(destination[(7 + ConnectionId.Size)..]);
        return LongHeaderLength;
    }

    public static int WriteShort(Span<byte> destination, ConnectionId to, long packetNumber, int packetNumberLength)
    {
        if (packetNumberLength is < 1 or > 4 || destination.Length < ShortHeaderLength(packetNumberLength))
        {
            throw new ArgumentOutOfRangeException(nameof(packetNumberLength), packetNumberLength, "A short header carries 1 to 4 bytes of packet number.");
        }

        destination[0] = (byte)(ShortForm | (packetNumberLength - 1));
        to.Write(destination[1..]);
        uint truncated = (uint)(packetNumber & (long)((1UL << (packetNumberLength * 8)) - 1));
        for (int i = 0; i < packetNumberLength; i++)
        {
            destination[1 + ConnectionId.Size + i] = (byte)(truncated >> (8 * (packetNumberLength - 1 - i)));
        }

        return ShortHeaderLength(packetNumberLength);
    }

    /// <summary>Reads the header at the start of <paramref name="datagram"/>; false with a reason when it is not one.</summary>
    public static bool TryRead(ReadOnlySpan<byte> datagram, out PacketHeader header, out string? problem)
    {
        header = default;
        problem = null;
        if (datagram.IsEmpty)
        {
            problem = "an empty datagram";
            return false;
        }

        byte flags = datagram[0];
        if ((flags & ShortForm) == 0)
        {
            problem = $"a datagram without the fixed bit (first byte 0x{flags:x2})";
            return false;
        }

        if ((flags & 0x80) == 0)
        {
            if ((flags & 0x3C) != 0)
            {
                problem = $"a short header with reserved bits set (0x{flags:x2})";
                return false;
            }

            int numberLength = (flags & 0x03) + 1;
            if (datagram.Length < ShortHeaderLength(numberLength))
            {
                problem = $"a short header cut short ({datagram.Length} bytes)";
                return false;
            }

            uint truncated = 0;
            for (int i = 0; i < numberLength; i++)
            {
                truncated = (truncated << 8) | datagram[1 + ConnectionId.Size + i];
            }

            header = new PacketHeader
            {
                Type = PacketType.Short,
                Destination = ConnectionId.Read(datagram[1..]),
                TruncatedPacketNumber = truncated,
                PacketNumberLength = numberLength,
                Length = ShortHeaderLength(numberLength),
            };
            return true;
        }

        if ((flags & 0x0F) != 0)
        {
            problem = $"a long header with reserved bits set (0x{flags:x2})";
            return false;
        }

        if (datagram.Length < LongHeaderLength)
        {
            problem = $"a long header cut short ({datagram.Length} bytes)";
            return false;
        }

        if (datagram[5] != ConnectionId.Size || datagram[6 + ConnectionId.Size] != ConnectionId.Size)
        {
            problem = $"connection ids of {datagram[5]} and {datagram[6 + ConnectionId.Size]} bytes (rudp's are {ConnectionId.Size})";
            return false;
        }

        header = new PacketHeader
        {
            Type = (PacketType)((flags >> 4) & 0x03),
            Version = BinaryPrimitives.ReadUInt32LittleEndian(datagram[1..]),
            Destination = ConnectionId.Read(datagram[6..]),
            Source = ConnectionId.Read(datagram[(7 + ConnectionId.Size)..]),
            Length = LongHeaderLength,
        };
        return true;
    }
}
