namespace OmniStore.Transport.Rudp.Internal;

/// <summary>Frame types of rudp version 1 (docs/rudp.md, "Frames"); any other is a protocol violation.</summary>
internal enum RudpFrameType : byte
{
    Padding = 0x00,
    Ping = 0x01,
    Ack = 0x02,
    Stream = 0x03,
    MaxData = 0x04,
    DataBlocked = 0x05,
    PathChallenge = 0x06,
    PathResponse = 0x07,
    ConnectionClose = 0x08,
    TransportParameters = 0x09,

    /// <summary>STREAM with the FIN bit: the last bytes of the stream.</summary>
    StreamFin = 0x13,
}
