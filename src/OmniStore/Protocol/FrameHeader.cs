using System.Buffers.Binary;

namespace OmniStore.Protocol;

/// <summary>The fixed 12-byte header of every frame.</summary>
internal readonly record struct FrameHeader(FrameType Type, FrameFlags Flags, uint Stream, int PayloadLength)
{
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, PayloadLength + 8);
        destination[4] = (byte)Type;
        destination[5] = (byte)Flags;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Stream);
    }
}

/// <summary>Frame flags.</summary>
[Flags]
internal enum FrameFlags : byte
{
    None = 0,

    /// <summary>The last frame of its message.</summary>
    End = 1,
}
