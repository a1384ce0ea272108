namespace OmniStore.Protocol;

/// <summary>
/// What the peer of a connection is to this node in the tree: its parent (which pushes UPDATE and
/// PUSH_CHUNK and asks nothing) or its child (a client or relay, which asks). Settled by the
/// handshake (docs/protocol.md, "HELLO").
/// </summary>
internal enum TreeSide : byte
{
    /// <summary>The peer is a client or relay below this node.</summary>
    Child = 0,

    /// <summary>The peer is this node's parent.</summary>
    Parent = 1,
}
