namespace OmniStore.Protocol;

/// <summary>
/// What this end says about itself in the handshake, the key it proves its id with, and the
/// secret it holds if any.
/// </summary>
internal sealed record ConnectionIdentity(NodeIdentity Node, NodeRole Role, string Site, byte[]? Secret)
{
    /// <summary>This end's node id, derived from <see cref="Node"/>'s public key.</summary>
    public NodeId NodeId => Node.Id;

    /// <summary>
    /// The tree's relay secret: an opener with the relay role proves it; an acceptor accepts the
    /// relay role only from an opener that proves it (unless <see cref="AcceptsRelaysWithoutSecret"/>).
    /// Null: this end has none.
    /// </summary>
    public byte[]? RelaySecret { get; init; }

    /// <summary>Insecure: an acceptor takes any opener that says it is a relay at its word.</summary>
    public bool AcceptsRelaysWithoutSecret { get; init; }

    /// <summary>
    /// An opener that dials a given node: a peer that proves another id is refused with
    /// <see cref="OmniStoreError.Unauthorized"/> ("expected node X, reached node Y"). Null: any node.
    /// </summary>
    public NodeId? ExpectedPeer { get; init; }

    /// <summary>
    /// What an opener asks to be to the node it dials: its child (every client, and a relay dialing
    /// its parent), or its parent (a parent its child cannot reach dials the child). The acceptor's
    /// answer must confirm it. Defaults to <see cref="TreeSide.Child"/>.
    /// </summary>
    public TreeSide OpenerSide { get; init; } = TreeSide.Child;

    /// <summary>The newest protocol version this end offers or accepts (tests: a node of an older version).</summary>
    public ushort MaxVersion { get; init; } = ProtocolLimits.MaxVersion;

    /// <summary>
    /// An acceptor that takes a parent that dials it: that parent's node id. An opener that asks to
    /// be the parent is taken only when it proves this id and says it is a root or a relay; any other
    /// is refused with <see cref="OmniStoreError.Unauthorized"/>. Null (the default): this end takes
    /// no parent that dials it.
    /// </summary>
    public NodeId? AcceptsParent { get; init; }

    /// <summary>
    /// What an acceptor checks last, once the secrets and the opener's id are proved: given the
    /// opener's HELLO, the reason it is refused (sent to it as ERROR Unauthorized), or null to accept it.
    /// </summary>
    public Func<HelloMessage, string?>? Admission { get; init; }

    /// <summary>
    /// Where this end's handshake nonces come from: fresh random bytes. Only the fuzzer's acceptor
    /// replaces it (with a fixed nonce, so that a recorded opener's signature stays valid); a fixed
    /// nonce anywhere else would let a recorded handshake be replayed.
    /// </summary>
    internal Func<byte[]> Nonces { get; init; } = Handshake.NewNonce;

    /// <summary>A client's identity: an ephemeral key pair, made now, that lives as long as the client.</summary>
    public static ConnectionIdentity NewClient(byte[]? secret = null) => new(NodeIdentity.Create(), NodeRole.Client, string.Empty, secret);
}
