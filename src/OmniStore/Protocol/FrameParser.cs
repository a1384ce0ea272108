using System.Buffers;
using System.Buffers.Binary;

namespace OmniStore.Protocol;

/// <summary>What <see cref="FrameParser.TryRead"/> found.</summary>
internal enum FrameParseStatus
{
    /// <summary>A whole frame was read.</summary>
    Frame,

    /// <summary>The buffer ends inside a frame: read more and call again.</summary>
    NeedMoreData,

    /// <summary>The bytes cannot be a valid frame; the connection must be closed.</summary>
    Malformed,
}

/// <summary>
/// Splits a byte stream into frames. It never throws on peer input and never consumes a partial
/// frame: on <see cref="FrameParseStatus.NeedMoreData"/> the caller advances its pipe with
/// (consumed = start, examined = end) and waits for more bytes.
/// </summary>
internal static class FrameParser
{
    /// <summary>
    /// Reads the frame at the start of <paramref name="buffer"/> and moves past it. On
    /// <see cref="FrameParseStatus.NeedMoreData"/>, <paramref name="header"/> is the arriving
    /// frame's header if all of it is there (default otherwise).
    /// </summary>
    public static FrameParseStatus TryRead(ref ReadOnlySequence<byte> buffer, out FrameHeader header, out ReadOnlySequence<byte> payload, out string? problem)
    {
        payload = default;
        var status = TryReadHeader(buffer, out header, out problem);
        if (status != FrameParseStatus.Frame)
        {
            return status;
        }

        long total = ProtocolLimits.HeaderSize + (long)header.PayloadLength;
        if (buffer.Length < total)
        {
            return FrameParseStatus.NeedMoreData; // with the (valid) header of the frame that is arriving
        }

        payload = buffer.Slice(ProtocolLimits.HeaderSize, header.PayloadLength);
        buffer = buffer.Slice(total);
        return FrameParseStatus.Frame;
    }

    /// <summary>
    /// Reads and checks the header at the start of <paramref name="buffer"/> without needing its
    /// payload: <see cref="FrameParseStatus.Frame"/> means the header is valid (the payload may not
    /// have arrived yet). Consumes nothing.
    /// </summary>
    private static FrameParseStatus TryReadHeader(in ReadOnlySequence<byte> buffer, out FrameHeader header, out string? problem)
    {
        header = default;
        problem = null;
        if (buffer.Length < ProtocolLimits.HeaderSize)
        {
            return FrameParseStatus.NeedMoreData;
        }

        Span<byte> head = stackalloc byte[ProtocolLimits.HeaderSize];
        buffer.Slice(0, ProtocolLimits.HeaderSize).CopyTo(head);
        int length = BinaryPrimitives.ReadInt32LittleEndian(head);
        var type = (FrameType)head[4];
        var flags = (FrameFlags)head[5];
        if (length < 8 || length - 8 > ProtocolLimits.MaxFramePayload)
        {
            problem = $"frame length {length} is outside 8..{ProtocolLimits.MaxFramePayload + 8}";
            return FrameParseStatus.Malformed;
        }

        if (!Enum.IsDefined(type))
        {
            problem = $"unknown frame type {(byte)type}";
            return FrameParseStatus.Malformed;
        }

        if ((flags & ~FrameFlags.End) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(head[6..]) != 0)
        {
            problem = "reserved header bits are set";
            return FrameParseStatus.Malformed;
        }

        header = new FrameHeader(type, flags, BinaryPrimitives.ReadUInt32LittleEndian(head[8..]), length - 8);
        return FrameParseStatus.Frame;
    }
}
