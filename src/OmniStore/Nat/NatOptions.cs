using OmniStore.Transport;

namespace OmniStore.Nat;

/// <summary>How a node or client takes part in NAT traversal (docs/nat.md).</summary>
internal sealed record NatOptions
{
    /// <summary>The rendezvous that registers names and introduces nodes (<c>rudp://HOST:PORT</c>, or <c>tls+rudp://HOST:PORT</c> in a TLS tree). Required.</summary>
    public required NodeAddress Rendezvous { get; init; }

    /// <summary>This node's certificate, key and tree CA, for a <c>tls+rudp</c> rendezvous; null for a plain one.</summary>
    public Security.TlsCredentials? Tls { get; init; }

    /// <summary>The name this node registers (<c>--node-id</c>); null: it registers none and only dials names.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// Port mapping (docs/nat-port-mapping.md): ask the gateway for a forwarding of the registered
    /// socket's port by NAT-PMP, PCP and UPnP-IGD at once, and register the mapping as a candidate
    /// (a path of type <c>mapped</c>). Null (the default): none is asked for.
    /// </summary>
    public PortMapping.PortMapperOptions? PortMapping { get; init; }

    /// <summary>How long a port mapping is asked for; renewed at half of it.</summary>
    public TimeSpan PortMappingLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The TTL of the registrant's opening datagrams: leaves its own NAT, dies before the dialer's.</summary>
    public int OpeningTtl { get; init; } = 2;

    /// <summary>After this, the registrant's openings also go with the normal TTL (a registrant more than one hop behind its NAT).</summary>
    public TimeSpan FullTtlAfter { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>How often checks and openings are sent while punching.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long the dialer's checks go unanswered before it asks for a relay.</summary>
    public TimeSpan PunchTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How long to wait before registering again after the rendezvous connection failed (doubling up to 16x).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How often a relayed connection tries again for a direct path (a hole, a mapping), and moves to it when one opens.</summary>
    public TimeSpan UpgradeInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a relayed connection tries for a direct path before it stays relayed.</summary>
    public int UpgradeAttempts { get; init; } = 10;

    /// <summary>Whether to ask for a relay when no hole opens (tests turn it off to see a punch fail).</summary>
    public bool RelayFallback { get; init; } = true;

    /// <summary>Whether to try a direct or punched path before a relay (tests turn it off to exercise the relay where every path would open).</summary>
    public bool TryDirect { get; init; } = true;

    /// <summary>Whether <paramref name="address"/> can be a rendezvous: rudp or tls+rudp, with a port.</summary>
    public static bool IsRendezvousAddress(NodeAddress address) => address is { Scheme: "rudp" or "tls+rudp", Port: > 0 };

    /// <summary>Throws <see cref="OmniStoreException"/> (<see cref="OmniStoreError.InvalidArgument"/>) naming what is wrong.</summary>
    public void Validate()
    {
        if (!IsRendezvousAddress(Rendezvous))
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A rendezvous is a rudp://HOST:PORT (or tls+rudp://HOST:PORT) address, not '{Rendezvous}'.");
        }

        if (Rendezvous.Scheme == "tls+rudp" && Tls is null)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"The rendezvous {Rendezvous} is a TLS address: it needs this node's certificate, key and tree CA (--tls-cert, --tls-key, --tls-ca).");
        }

        if (Name is not null && global::OmniStore.Nat.Rendezvous.RendezvousMessages.CheckName(Name) is { } problem)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"--node-id: {problem}.");
        }

        if (OpeningTtl is < 1 or > 64)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"An opening TTL is 1-64, not {OpeningTtl}.");
        }
    }
}
