namespace OmniStore.Transport.Internal;

/// <summary>
/// The schemes an address may have, and which of them name a host only, so that their port may be
/// left out (<c>mem://NAME</c>; <c>rudp://NAME</c>, a node behind NAT found through a rendezvous: docs/nat.md). The address grammar learns of schemes here and nowhere else: a
/// registry of transports replaces <see cref="Default"/> with what it holds.
/// </summary>
internal sealed record AddressSchemes(IReadOnlyList<string> Names, IReadOnlyList<string> WithoutPort)
{
    /// <summary>What this build connects to and listens on.</summary>
    public static AddressSchemes Default { get; } = new(NodeAddress.SupportedSchemes, ["mem", "rudp", "tls+rudp"]);

    /// <summary>Whether <paramref name="scheme"/> (lower case) is known.</summary>
    public bool Has(string scheme) => Names.Contains(scheme, StringComparer.Ordinal);

    /// <summary>Whether an address of <paramref name="scheme"/> may leave its port out (it then reads as port 0).</summary>
    public bool PortOptional(string scheme) => WithoutPort.Contains(scheme, StringComparer.Ordinal);

    /// <summary>The known schemes as a reader would write them, for messages: <c>tcp://</c>.</summary>
    public string Describe() => string.Join(", ", Names.Select(n => n + "://"));
}
