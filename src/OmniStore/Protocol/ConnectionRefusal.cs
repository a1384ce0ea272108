namespace OmniStore.Protocol;

/// <summary>
/// What a node sends a connection it will not serve, before closing it: one connection-level
/// ERROR frame in place of the handshake's HELLO. The opener's handshake reads it as that error
/// (docs/protocol.md, "Handshake"), so a refused client fails over at once with a clear reason.
/// </summary>
internal static class ConnectionRefusal
{
    /// <summary>The ERROR frame, header and payload.</summary>
    public static byte[] Frame(OmniStoreError error, string message)
    {
        var payload = ErrorMessage.Encode(error, message);
        var frame = new byte[ProtocolLimits.HeaderSize + payload.Length];
        new FrameHeader(FrameType.Error, FrameFlags.End, 0, payload.Length).Write(frame);
        payload.CopyTo(frame.AsSpan(ProtocolLimits.HeaderSize));
        return frame;
    }
}
