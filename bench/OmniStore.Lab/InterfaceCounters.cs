namespace OmniStore.Lab;

/// <summary>
/// The kernel's counters of one network interface, as /sys/class/net/DEV/statistics shows them
/// inside its namespace. On a WAN link's devices bytes are IP bytes (TUN devices have no link
/// header). Subtract two readings for what happened in between.
/// </summary>
/// <param name="RxBytes">Bytes received.</param>
/// <param name="RxPackets">Packets received.</param>
/// <param name="RxDropped">Packets received but dropped by the kernel.</param>
/// <param name="TxBytes">Bytes transmitted.</param>
/// <param name="TxPackets">Packets transmitted.</param>
/// <param name="TxDropped">Packets dropped on the way out (for a WAN device: the wire did not take them in time).</param>
public readonly record struct InterfaceCounters(long RxBytes, long RxPackets, long RxDropped, long TxBytes, long TxPackets, long TxDropped)
{
    /// <summary>The counts between two readings.</summary>
    public static InterfaceCounters operator -(InterfaceCounters later, InterfaceCounters earlier) =>
        new(later.RxBytes - earlier.RxBytes, later.RxPackets - earlier.RxPackets, later.RxDropped - earlier.RxDropped,
            later.TxBytes - earlier.TxBytes, later.TxPackets - earlier.TxPackets, later.TxDropped - earlier.TxDropped);

    /// <summary>The counts between two readings.</summary>
    public static InterfaceCounters Subtract(InterfaceCounters later, InterfaceCounters earlier) => later - earlier;
}
