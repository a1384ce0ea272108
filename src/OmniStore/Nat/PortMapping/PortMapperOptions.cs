using System.Net;

namespace OmniStore.Nat.PortMapping;

/// <summary>How <see cref="PortMapper"/> looks for a gateway and speaks to it.</summary>
internal sealed class PortMapperOptions
{
    /// <summary>The protocols tried (in parallel). Defaults to <see cref="PortMappingMethods.All"/>.</summary>
    public PortMappingMethods Methods { get; init; } = PortMappingMethods.All;

    /// <summary>
    /// Finds the gateway NAT-PMP and PCP requests go to. Defaults to the IPv4 default route's next
    /// hop (<see cref="DefaultGateway.Find"/>, read on the calling thread). Returning null skips NAT-PMP and PCP.
    /// </summary>
    public Func<IPAddress?> FindGateway { get; init; } = static () => DefaultGateway.Find();

    /// <summary>Makes every socket port mapping speaks from. Defaults to <see cref="SocketFactories.Default"/>.</summary>
    public SocketFactory CreateSocket { get; init; } = SocketFactories.Default;

    /// <summary>Where SSDP searches go. Defaults to SSDP's multicast group (239.255.255.250:1900); tests name a fake server.</summary>
    public IPEndPoint? SsdpTarget { get; init; }

    /// <summary>The NAT-PMP and PCP server port. Defaults to 5351; tests name a fake server's.</summary>
    public int GatewayPort { get; init; } = NatPmpMessage.ServerPort;

    /// <summary>When NAT-PMP and PCP requests are sent again. Defaults to RFC 6886's (250 ms doubling, 9 requests).</summary>
    public PortMappingSchedule Schedule { get; init; } = PortMappingSchedule.Rfc6886;

    /// <summary>How long the SSDP search (description fetches included) may take. Defaults to 10 s.</summary>
    public TimeSpan DiscoveryTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The limit of one UPnP HTTP exchange. Defaults to 5 s.</summary>
    public TimeSpan HttpTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The external port asked for. Defaults to null: the same as the local port.</summary>
    public int? SuggestedExternalPort { get; init; }

    /// <summary>
    /// How long the methods that have not answered yet when one succeeded are given to finish (a
    /// mapping they make that differs from the one kept is removed). Defaults to 2 s.
    /// </summary>
    public TimeSpan LoserGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Checks the options once, naming the bad property.</summary>
    public void Validate(string argumentName)
    {
        if ((Methods & PortMappingMethods.All) == PortMappingMethods.None || (Methods & ~PortMappingMethods.All) != 0)
        {
            throw new ArgumentException($"{nameof(Methods)} must name at least one of nat-pmp, pcp and upnp.", argumentName);
        }

        ArgumentNullException.ThrowIfNull(FindGateway, argumentName);
        ArgumentNullException.ThrowIfNull(CreateSocket, argumentName);
        ArgumentNullException.ThrowIfNull(Schedule, argumentName);
        Schedule.Validate(argumentName);
        if (GatewayPort is < 1 or > 65535 || SuggestedExternalPort is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(argumentName, $"{nameof(GatewayPort)} and {nameof(SuggestedExternalPort)} must be ports (1-65535).");
        }

        if (DiscoveryTimeout <= TimeSpan.Zero || HttpTimeout <= TimeSpan.Zero || LoserGrace < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(argumentName, $"{nameof(DiscoveryTimeout)} and {nameof(HttpTimeout)} must be positive, {nameof(LoserGrace)} not negative.");
        }
    }
}
