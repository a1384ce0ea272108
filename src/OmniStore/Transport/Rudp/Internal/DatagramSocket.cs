using System.Net;
using System.Net.Sockets;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// A UDP socket as rudp uses it (docs/rudp.md, "The Linux fast path"): datagrams received in
/// batches by one thread, and sent in batches, each item one buffer of equal-sized datagrams to one
/// address (a GSO batch). Two implementations: <see cref="PortableDatagramSocket"/> (one system call
/// per datagram, any OS) and <see cref="LinuxDatagramSocket"/> (<c>recvmmsg</c> with UDP_GRO,
/// <c>sendmmsg</c> with UDP_SEGMENT); <see cref="Open"/> picks the fast one when the kernel takes it.
/// </summary>
internal abstract class DatagramSocket : IDisposable
{
    /// <summary>The largest UDP payload: what one receive buffer holds (a GRO batch, at most 64 KiB).</summary>
    public const int MaxDatagram = 65_535;

    /// <summary>The address and port bound.</summary>
    public abstract IPEndPoint LocalEndPoint { get; }

    /// <summary>Which path carries the datagrams, for status: <c>portable</c>, or <c>sendmmsg+gso/recvmmsg+gro</c>.</summary>
    public abstract string Mode { get; }

    /// <summary>Datagrams dropped because the kernel's buffer was full (ENOBUFS, EAGAIN) when sending.</summary>
    public long SendDrops => Interlocked.Read(ref _sendDrops);

    private long _sendDrops;

    /// <summary>
    /// Waits for datagrams (at most about a quarter second, so a closing socket is noticed) and fills
    /// <paramref name="batch"/> from its start; returns how many buffers were filled (0 when none
    /// came in time). Throws <see cref="ObjectDisposedException"/> once the socket is disposed.
    /// One thread receives.
    /// </summary>
    public abstract int Receive(DatagramBatch batch);

    /// <summary>
    /// Sends each item: <c>Data</c> is one or more datagrams of <c>SegmentSize</c> bytes (the last
    /// may be shorter) to <c>To</c>. Never blocks for long and never throws for one datagram the
    /// kernel refused (counted in <see cref="SendDrops"/>: UDP may lose it anyway, and rudp sends it
    /// again); throws <see cref="ObjectDisposedException"/> once disposed. One thread sends.
    /// </summary>
    public abstract void Send(ReadOnlySpan<OutgoingDatagrams> items);

    public abstract void Dispose();

    /// <summary>The socket underneath, for the rare option set around one send (<see cref="SendWithTtl"/>).</summary>
    protected abstract Socket Underlying { get; }

    /// <summary>
    /// Sends one datagram that may cross at most <paramref name="ttl"/> hops (IP_TTL or the IPv6 hop
    /// limit, set for this send and put back after it). Called by the one thread that sends.
    /// </summary>
    public void SendWithTtl(byte[] datagram, SocketAddress to, int ttl)
    {
        var socket = Underlying;
        short previous = socket.Ttl;
        try
        {
            socket.Ttl = (short)ttl;
            socket.SendTo(datagram, SocketFlags.None, to);
        }
        catch (SocketException)
        {
            CountSendDrop();
        }
        finally
        {
            try
            {
                socket.Ttl = previous;
            }
            catch (SocketException)
            {
                // Closing: nothing else will be sent.
            }
        }
    }

    protected void CountSendDrop(int datagrams = 1) => Interlocked.Add(ref _sendDrops, datagrams);

    /// <summary>
    /// A socket bound to <paramref name="local"/>: the Linux fast path when the kernel supports it
    /// (and <paramref name="portableOnly"/> is false), else the portable one.
    /// </summary>
    public static DatagramSocket Open(IPEndPoint local, bool portableOnly = false)
    {
        if (!portableOnly && OperatingSystem.IsLinux() && LinuxDatagramSocket.TryOpen(local) is { } fast)
        {
            return fast;
        }

        return PortableDatagramSocket.Open(local);
    }

    /// <summary>Socket buffers large enough for a window of datagrams between the threads' turns (the kernel caps them at net.core.[rw]mem_max).</summary>
    protected const int KernelBufferSize = 8 << 20;

    /// <summary>
    /// Datagrams leave with the don't-fragment bit and are never fragmented or capped by the
    /// kernel's idea of the path MTU (Linux: IP_MTU_DISCOVER = IP_PMTUDISC_PROBE): rudp finds the
    /// path's MTU itself (docs/rudp.md, "Paths"), and a probe larger than a hop carries must vanish
    /// there, not arrive in fragments that each may be lost. Elsewhere the OS's default stays.
    /// </summary>
    protected static void SetDontFragment(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        const int PmtuDiscProbe = 3;
        try
        {
            if (socket.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.SetRawSocketOption(41 /* IPPROTO_IPV6 */, 23 /* IPV6_MTU_DISCOVER */, BitConverter.GetBytes(PmtuDiscProbe));
            }
            else
            {
                socket.SetRawSocketOption(0 /* IPPROTO_IP */, 10 /* IP_MTU_DISCOVER */, BitConverter.GetBytes(PmtuDiscProbe));
            }
        }
        catch (SocketException)
        {
            // An old kernel: probes may be fragmented, and the search then settles on what arrives.
        }
    }

    /// <summary>
    /// A UDP socket bound to <paramref name="local"/> as both paths want it: one address family,
    /// kernel buffers of <see cref="KernelBufferSize"/>, a quarter-second receive timeout (so a
    /// closing socket is noticed), don't-fragment. A bind that fails throws <see cref="BindFailed"/>'s error.
    /// </summary>
    protected static Socket CreateBound(IPEndPoint local)
    {
        var socket = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (local.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            socket.ReceiveBufferSize = KernelBufferSize;
            socket.SendBufferSize = KernelBufferSize;
            socket.ReceiveTimeout = 250;
            SetDontFragment(socket);
            socket.Bind(local);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw BindFailed(local, ex);
        }
    }

    /// <summary>Throws <see cref="OmniStoreException"/> (<see cref="OmniStoreError.Unavailable"/>) for a bind that failed.</summary>
    protected static OmniStoreException BindFailed(IPEndPoint local, SocketException ex) =>
        new(OmniStoreError.Unavailable, ex.SocketErrorCode == SocketError.AddressAlreadyInUse
            ? $"Cannot listen on rudp://{Format(local)}: the address is in use (another process, or another node, listens there)"
            : $"Cannot listen on rudp://{Format(local)}: {ex.Message} ({ex.SocketErrorCode})", ex);

    private static string Format(IPEndPoint endPoint) =>
        endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{endPoint.Address}]:{endPoint.Port}" : $"{endPoint.Address}:{endPoint.Port}";
}

/// <summary>One send: <see cref="Data"/> holds datagrams of <see cref="SegmentSize"/> bytes (the last may be shorter), all to <see cref="To"/>.</summary>
internal readonly record struct OutgoingDatagrams(SocketAddress To, ReadOnlyMemory<byte> Data, int SegmentSize);

/// <summary>
/// Buffers for one <see cref="DatagramSocket.Receive"/>: each buffer gets one datagram, or with GRO
/// several of one sender coalesced (<see cref="SegmentSizes"/> says how to split them), and the
/// sender's address. Allocated once per socket and reused.
/// </summary>
internal sealed class DatagramBatch
{
    public DatagramBatch(int count, AddressFamily family, int bufferSize = DatagramSocket.MaxDatagram)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Buffers = new byte[count][];
        Lengths = new int[count];
        SegmentSizes = new int[count];
        Addresses = new SocketAddress[count];
        for (int i = 0; i < count; i++)
        {
            Buffers[i] = GC.AllocateUninitializedArray<byte>(bufferSize, pinned: true);
            Addresses[i] = new SocketAddress(family, SocketAddress.GetMaximumAddressSize(family));
        }
    }

    public int Count => Buffers.Length;

    /// <summary>Pinned receive buffers.</summary>
    public byte[][] Buffers { get; }

    /// <summary>Bytes received in each buffer.</summary>
    public int[] Lengths { get; }

    /// <summary>The size of each coalesced datagram in a buffer (GRO), or 0 when the buffer holds one datagram.</summary>
    public int[] SegmentSizes { get; }

    /// <summary>The sender of each buffer.</summary>
    public SocketAddress[] Addresses { get; }

    /// <summary>Calls <paramref name="each"/> for every datagram of buffer <paramref name="index"/> (split by its segment size).</summary>
    public void ForEachDatagram<TState>(int index, TState state, DatagramHandler<TState> each)
    {
        var data = Buffers[index].AsSpan(0, Lengths[index]);
        int segment = SegmentSizes[index];
        if (segment <= 0 || segment >= data.Length)
        {
            each(state, data, Addresses[index]);
            return;
        }

        for (int at = 0; at < data.Length; at += segment)
        {
            each(state, data.Slice(at, Math.Min(segment, data.Length - at)), Addresses[index]);
        }
    }
}

/// <summary>Handles one received datagram.</summary>
internal delegate void DatagramHandler<TState>(TState state, ReadOnlySpan<byte> datagram, SocketAddress from);
