using System.Globalization;
using System.Net;

namespace OmniStore.Nat.PortMapping;

/// <summary>The IPv4 default gateway, from the kernel's routing table (<c>/proc/net/route</c>): where NAT-PMP and PCP requests go.</summary>
internal static class DefaultGateway
{
    /// <summary>The routing table of the calling thread's network namespace.</summary>
    public const string RouteTable = "/proc/thread-self/net/route";

    /// <summary>The gateway of the first default route (destination and mask 0, the gateway flag set), or null when there is none or the table cannot be read.</summary>
    public static IPAddress? Find(string path = RouteTable)
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Reads the table's text: a header line, then "Iface Destination Gateway Flags RefCnt Use Metric
    /// Mask ..." per route, addresses as 8 hex digits in the host's byte order (little-endian here).
    /// </summary>
    public static IPAddress? Parse(string table)
    {
        ArgumentNullException.ThrowIfNull(table);
        const int RouteGatewayFlag = 0x2;
        IPAddress? best = null;
        int bestMetric = int.MaxValue;
        foreach (var line in table.Split('\n').Skip(1))
        {
            var fields = line.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 8 ||
                !uint.TryParse(fields[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint destination) ||
                !uint.TryParse(fields[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint gateway) ||
                !int.TryParse(fields[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int flags) ||
                !int.TryParse(fields[6], NumberStyles.Integer, CultureInfo.InvariantCulture, out int metric) ||
                !uint.TryParse(fields[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint mask))
            {
                continue;
            }

            if (destination == 0 && mask == 0 && (flags & RouteGatewayFlag) != 0 && gateway != 0 && metric < bestMetric)
            {
                best = new IPAddress(gateway); // the table holds the address's bytes as the kernel stores them: IPAddress(long)'s order
                bestMetric = metric;
            }
        }

        return best;
    }
}
