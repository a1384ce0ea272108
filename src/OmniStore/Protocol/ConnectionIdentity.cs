namespace OmniStore.Protocol;

/// <summary>What this end says about itself in the handshake, and the secret it holds if any.</summary>
internal sealed record ConnectionIdentity(Guid NodeId, NodeRole Role, string Site, byte[]? Secret)
{
    /// <summary>
    /// The tree's relay secret: an opener with the relay role proves it; an acceptor accepts the
    /// relay role only from an opener that proves it (unless <see cref="AcceptsRelaysWithoutSecret"/>).
    /// Null: this end has none.
    /// </summary>
    public byte[]? RelaySecret { get; init; }

    /// <summary>Insecure: an acceptor takes any opener that says it is a relay at its word.</summary>
    public bool AcceptsRelaysWithoutSecret { get; init; }

    /// <summary>
    /// What an acceptor checks last, once the secrets are proved: given the opener's HELLO, the
    /// reason it is refused (sent to it as ERROR Unauthorized), or null to accept it.
    /// </summary>
    public Func<HelloMessage, string?>? Admission { get; init; }

    public static ConnectionIdentity NewClient(byte[]? secret = null) => new(Guid.NewGuid(), NodeRole.Client, string.Empty, secret);
}
