using System.Net;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>The Linux fast path: <c>recvmmsg</c> with UDP_GRO, <c>sendmmsg</c> with UDP_SEGMENT (docs/rudp.md, "The Linux fast path").</summary>
internal sealed class LinuxDatagramSocket
{
    /// <summary>A socket on the fast path, or null when this kernel does not offer it.</summary>
    public static DatagramSocket? TryOpen(IPEndPoint local) => null;
}
