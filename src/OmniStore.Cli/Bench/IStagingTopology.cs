namespace OmniStore.Cli.Bench;

/// <summary>
/// Where a staging run's processes run and how its wide-area traffic is seen: the lab's network
/// namespaces with shaped WAN links, or plain loopback. Site -1 is the master's site (the root and
/// the master); sites 0..K-1 hold a relay and workers each.
/// </summary>
internal interface IStagingTopology : IAsyncDisposable
{
    /// <summary>One line for reports: what the network is.</summary>
    string Description { get; }

    /// <summary>False for loopback: no rate, delay or loss, and no per-link kernel counters.</summary>
    bool ShapesWan { get; }

    int SiteCount { get; }

    /// <summary>A public site with no workers where the rendezvous runs (<see cref="StagingSettings.BehindNat"/>); null when there is none.</summary>
    int? RendezvousSite => null;

    /// <summary>The address nodes of <paramref name="site"/> listen on and are reached at.</summary>
    string HostOf(int site);

    /// <summary>The configured rate of <paramref name="site"/>'s WAN link in bits per second; null without shaping.</summary>
    long? RateOf(int site);

    /// <summary>Starts <c>omnistore</c> with <paramref name="arguments"/> at <paramref name="site"/>; <paramref name="label"/> names it in messages.</summary>
    StagedProcess Start(int site, string label, IReadOnlyList<string> arguments);

    /// <summary>
    /// The kernel's byte counters of every WAN link (index 0: the master site's, then each site's),
    /// seen from the site: bytes sent out of it and received into it. Null without shaping.
    /// </summary>
    Task<IReadOnlyList<LinkBytes>?> ReadWanCountersAsync(CancellationToken cancellationToken);
}

/// <summary>IP bytes and packets out of and into a site over its WAN link.</summary>
internal readonly record struct LinkBytes(long Out, long In, long OutPackets, long InPackets)
{
    /// <summary>
    /// IPv4 and TCP headers of every packet on the lab's links: 20 + 20 bytes, plus 12 of the
    /// timestamp option Linux puts on every segment. Subtracting them leaves the TCP payload, that is
    /// OmniStore's own bytes (objects plus its framing).
    /// </summary>
    public const int TcpIpHeaderBytes = 52;

    /// <summary>TCP payload bytes into the site (IP bytes less the headers).</summary>
    public long PayloadIn => In - (InPackets * TcpIpHeaderBytes);

    /// <summary>TCP payload bytes out of the site.</summary>
    public long PayloadOut => Out - (OutPackets * TcpIpHeaderBytes);

    public static LinkBytes operator -(LinkBytes after, LinkBytes before) =>
        new(after.Out - before.Out, after.In - before.In, after.OutPackets - before.OutPackets, after.InPackets - before.InPackets);
}
