using OmniStore.Transport;

namespace OmniStore.Nat;

/// <summary>How a node or client takes part in NAT traversal (docs/nat.md).</summary>
internal sealed record NatOptions
{
    /// <summary>The rendezvous that registers names and introduces nodes (<c>rudp://HOST:PORT</c>). Required.</summary>
    public required NodeAddress Rendezvous { get; init; }

    /// <summary>The name this node registers (<c>--node-id</c>); null: it registers none and only dials names.</summary>
    public string? Name { get; init; }

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

    /// <summary>Whether to ask for a relay when no hole opens (tests turn it off to see a punch fail).</summary>
    public bool RelayFallback { get; init; } = true;

    /// <summary>Whether to try a direct or punched path before a relay (tests turn it off to exercise the relay where every path would open).</summary>
    public bool TryDirect { get; init; } = true;

    /// <summary>Throws <see cref="OmniStoreException"/> (<see cref="OmniStoreError.InvalidArgument"/>) naming what is wrong.</summary>
    public void Validate()
    {
        if (Rendezvous.Scheme != "rudp" || Rendezvous.Port == 0)
        {
            throw new OmniStoreException(OmniStoreError.InvalidArgument, $"A rendezvous is a rudp://HOST:PORT address, not '{Rendezvous}'.");
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
