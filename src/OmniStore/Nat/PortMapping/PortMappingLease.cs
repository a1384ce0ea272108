using System.Net;

namespace OmniStore.Nat.PortMapping;

/// <summary>
/// A UDP port forwarding a gateway granted: which protocol granted it, the public endpoint that now
/// reaches <see cref="InternalPort"/> on this host, and for how long.
/// </summary>
/// <param name="Method">The protocol that granted it (one flag).</param>
/// <param name="PublicEndPoint">The gateway's external address and the external port it forwards.</param>
/// <param name="InternalPort">The local UDP port the gateway forwards to.</param>
/// <param name="Lifetime">How long the gateway keeps it unless renewed (its answer, not our request).</param>
internal sealed record PortMappingLease(PortMappingMethods Method, IPEndPoint PublicEndPoint, int InternalPort, TimeSpan Lifetime);
