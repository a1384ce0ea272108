namespace OmniStore.Protocol;

/// <summary>What this end says about itself in the handshake, and the secret it holds if any.</summary>
internal sealed record ConnectionIdentity(Guid NodeId, NodeRole Role, string Site, byte[]? Secret)
{
    public static ConnectionIdentity NewClient(byte[]? secret = null) => new(Guid.NewGuid(), NodeRole.Client, string.Empty, secret);
}
