namespace OmniStore.Transport.Rudp.Internal;

/// <summary>Long-header packet types (docs/rudp.md, "Long header"); short-header packets carry a connection's frames.</summary>
internal enum PacketType : byte
{
    Initial = 0,
    Retry = 1,
    Accept = 2,
    VersionNegotiation = 3,

    /// <summary>A short-header packet: frames of an established connection.</summary>
    Short = 0xFF,
}
