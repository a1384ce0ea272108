namespace OmniStore.Lab;

/// <summary>One site of a lab topology: a network namespace for its hosts, a gateway with its WAN link, and optionally a NAT on that gateway.</summary>
/// <param name="Name">Lower-case letters, digits and '-', 1..16 characters, unique in the topology.</param>
public sealed record SiteSpec(string Name)
{
    /// <summary>The site's link to the WAN core. Defaults to <see cref="WanLinkSpec.Unlimited"/>.</summary>
    public WanLinkSpec Link { get; init; } = WanLinkSpec.Unlimited;

    /// <summary>The NAT on the site's gateway, if any. Defaults to <see cref="NatKind.None"/>.</summary>
    public NatKind Nat { get; init; }
}
