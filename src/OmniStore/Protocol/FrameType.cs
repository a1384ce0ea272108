namespace OmniStore.Protocol;

/// <summary>Frame types of protocol versions 2 (version 1's, then GET_COPY and the VERIFY exchange) and 3 (GET_OBJECT and OBJECT) (docs/protocol.md, "Messages").</summary>
internal enum FrameType : byte
{
    Hello = 1,
    Auth = 2,
    Ready = 3,
    Error = 4,
    Ping = 5,
    Pong = 6,
    Cancel = 7,
    GoAway = 8,
    Resolve = 16,
    Binding = 17,
    GetManifest = 18,
    Manifest = 19,
    GetChunk = 20,
    Chunk = 21,
    PutChunk = 22,
    PutManifest = 23,
    Bind = 24,
    Delete = 25,
    Ok = 26,
    Prefetch = 27,
    Update = 28,
    PushChunk = 29,
    GetCopy = 30,
    Verify = 31,
    VerifyProgress = 32,
    VerifyResult = 33,
    GetObject = 34,
    Object = 35,
}
