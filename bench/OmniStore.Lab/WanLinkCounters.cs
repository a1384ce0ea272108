namespace OmniStore.Lab;

/// <summary>
/// One reading of a site's WAN link: the kernel counters of the device at each end. The site end is
/// in the site's gateway namespace, the core end in the WAN core's.
/// </summary>
/// <param name="SiteEnd">The <c>wan</c> device of the site's gateway.</param>
/// <param name="CoreEnd">The core's device for this site.</param>
/// <remarks>
/// A packet is counted as transmitted at one end and, unless the wire lost it, as received at the
/// other. <see cref="UpBytes"/> and <see cref="DownBytes"/> count what arrived: the bytes that
/// crossed the link, retransmissions included.
/// </remarks>
public readonly record struct WanLinkCounters(InterfaceCounters SiteEnd, InterfaceCounters CoreEnd)
{
    /// <summary>IP bytes that crossed the link from the site to the WAN core.</summary>
    public long UpBytes => CoreEnd.RxBytes;

    /// <summary>IP bytes that crossed the link from the WAN core to the site.</summary>
    public long DownBytes => SiteEnd.RxBytes;

    /// <summary>Both directions: the link's WAN traffic.</summary>
    public long TotalBytes => UpBytes + DownBytes;

    /// <summary>The counts between two readings.</summary>
    public static WanLinkCounters operator -(WanLinkCounters later, WanLinkCounters earlier) =>
        new(later.SiteEnd - earlier.SiteEnd, later.CoreEnd - earlier.CoreEnd);

    /// <summary>The counts between two readings.</summary>
    public static WanLinkCounters Subtract(WanLinkCounters later, WanLinkCounters earlier) => later - earlier;
}
