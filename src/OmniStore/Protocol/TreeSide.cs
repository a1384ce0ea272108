namespace OmniStore.Protocol;

/// <summary>
/// What one end of a connection is to the other in the tree: its parent (which pushes UPDATE and
/// PUSH_CHUNK and asks nothing) or its child (a client or relay, which asks). Settled by the
/// handshake, whoever dialed (docs/protocol.md, "Roles"); the value is the HELLO's `opener_side`.
/// </summary>
internal enum TreeSide : byte
{
    /// <summary>A client or relay below the other end.</summary>
    Child = 0,

    /// <summary>The other end's parent.</summary>
    Parent = 1,
}
