using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// The Linux fast path (docs/rudp.md, "The Linux fast path"): <c>recvmmsg</c> with UDP_GRO (many
/// datagrams per call, those of one flow coalesced into one buffer with their segment size in a
/// control message), <c>sendmmsg</c> with UDP_SEGMENT (one buffer of equal-sized datagrams to one
/// peer is one message, segmented by the kernel or the NIC). GSO and GRO are used each when the
/// kernel takes it; <see cref="TryOpen(IPEndPoint)"/> returns null when <c>recvmmsg</c>/<c>sendmmsg</c> are not
/// there at all (another OS, a 32-bit process, a seccomp filter), and the portable path is used.
/// </summary>
/// <remarks>
/// Through <c>LibraryImport</c> with blittable structs laid out for 64-bit Linux (x64 and arm64
/// share it), so nothing needs runtime code generation (NativeAOT). The <c>msghdr</c> arrays, the
/// address and control buffers live in native memory allocated once: the receiving thread and the
/// sending thread each have their own part, and the memory is freed by whichever of
/// <see cref="Dispose"/> and the calls in flight leaves last.
/// </remarks>
internal sealed unsafe partial class LinuxDatagramSocket : DatagramSocket
{
    /// <summary>Messages per <c>recvmmsg</c> (a batch with more buffers is filled up to this many).</summary>
    private const int ReceiveMessages = 64;

    /// <summary>Messages per <c>sendmmsg</c> (more are sent by further calls).</summary>
    private const int SendMessages = 64;

    /// <summary>The kernel's limit on segments in one GSO send (UDP_MAX_SEGMENTS).</summary>
    private const int MaxGsoSegments = 64;

    /// <summary>The largest UDP payload over IPv4 (65535 less the IP and UDP headers): one GSO send's limit.</summary>
    private const int MaxGsoBytes = 65_507;

    /// <summary>Room for any socket address (<c>sizeof(struct sockaddr_storage)</c>).</summary>
    private const int NameSize = 128;

    /// <summary>A receive's control buffer: the UDP_GRO message needs CMSG_SPACE(4) = 24 bytes.</summary>
    private const int ReceiveControlSize = 64;

    /// <summary>A send's control buffer: CMSG_SPACE(2) = 24 bytes for UDP_SEGMENT.</summary>
    private const int SendControlSize = 24;

    private const int SolUdp = 17;
    private const int UdpSegment = 103;
    private const int UdpGro = 104;

    private const int MsgDontWait = 0x40;
    private const int MsgTrunc = 0x20;
    private const int MsgWaitForOne = 0x10000;

    private const int EIntr = 4;
    private const int EIO = 5;
    private const int EBadF = 9;
    private const int EAgain = 11;
    private const int EInval = 22;
    private const int EPipe = 32;
    private const int ENotSock = 88;

    private readonly Socket _socket;

    protected override Socket Underlying => _socket;
    private readonly SafeSocketHandle _handle;

    // Native memory, one block: the receiving side's part and the sending side's part.
    private readonly byte* _memory;
    private readonly MMsgHdr* _receiveMessages;
    private readonly IoVec* _receiveVectors;
    private readonly byte* _receiveNames;
    private readonly byte* _receiveControl;
    private readonly MMsgHdr* _sendMessages;
    private readonly IoVec* _sendVectors;
    private readonly byte* _sendNames;
    private readonly byte* _sendControl;
    private readonly MMsgHdr* _splitMessages;
    private readonly IoVec* _splitVectors;

    // The sending side's bookkeeping, per message of the batch being built.
    private readonly int[] _sendDatagrams = new int[SendMessages];
    private readonly int[] _sendSegments = new int[SendMessages];
    private readonly MemoryHandle[] _pins = new MemoryHandle[SendMessages + 1];
    private int _pinned;

    private readonly bool _gro;
    private volatile bool _gso;

    // 1 for the socket itself, plus one per call in flight; the native memory is freed at 0.
    private int _references = 1;
    private volatile bool _disposed;
    private int _disposing;

    private LinuxDatagramSocket(Socket socket, bool gso, bool gro)
    {
        _socket = socket;
        _handle = socket.SafeHandle;
        _gso = gso;
        _gro = gro;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;

        nuint size = (nuint)(ReceiveMessages * (sizeof(MMsgHdr) + sizeof(IoVec) + NameSize + ReceiveControlSize)
            + SendMessages * (sizeof(MMsgHdr) + sizeof(IoVec) + NameSize + SendControlSize)
            + MaxGsoSegments * (sizeof(MMsgHdr) + sizeof(IoVec)));
        Debug.Assert(sizeof(MsgHdr) == 56 && sizeof(MMsgHdr) == 64 && sizeof(IoVec) == 16 && sizeof(CMsgHdr) == 16);
        _memory = (byte*)NativeMemory.AlignedAlloc(size, 64);
        NativeMemory.Clear(_memory, size);
        byte* at = _memory;
        _receiveMessages = (MMsgHdr*)at;
        at += ReceiveMessages * sizeof(MMsgHdr);
        _sendMessages = (MMsgHdr*)at;
        at += SendMessages * sizeof(MMsgHdr);
        _splitMessages = (MMsgHdr*)at;
        at += MaxGsoSegments * sizeof(MMsgHdr);
        _receiveVectors = (IoVec*)at;
        at += ReceiveMessages * sizeof(IoVec);
        _sendVectors = (IoVec*)at;
        at += SendMessages * sizeof(IoVec);
        _splitVectors = (IoVec*)at;
        at += MaxGsoSegments * sizeof(IoVec);
        _receiveNames = at;
        at += ReceiveMessages * NameSize;
        _sendNames = at;
        at += SendMessages * NameSize;
        _receiveControl = at;
        at += ReceiveMessages * ReceiveControlSize;
        _sendControl = at;

        // The parts of each header that never change.
        for (int i = 0; i < ReceiveMessages; i++)
        {
            ref var header = ref _receiveMessages[i].Header;
            header.Name = _receiveNames + (i * NameSize);
            header.Iov = &_receiveVectors[i];
            header.IovLength = 1;
        }

        for (int i = 0; i < SendMessages; i++)
        {
            ref var header = ref _sendMessages[i].Header;
            header.Name = _sendNames + (i * NameSize);
            header.Iov = &_sendVectors[i];
            header.IovLength = 1;
        }

        for (int i = 0; i < MaxGsoSegments; i++)
        {
            ref var header = ref _splitMessages[i].Header;
            header.Iov = &_splitVectors[i];
            header.IovLength = 1;
        }
    }

    public override IPEndPoint LocalEndPoint { get; }

    /// <summary>The socket underneath, for tests that set an option on it.</summary>
    internal Socket Socket => _socket;

    public override string Mode => $"sendmmsg{(_gso ? "+gso" : "")}/recvmmsg{(_gro ? "+gro" : "")}";

    /// <summary>
    /// A socket on the fast path bound to <paramref name="local"/>, or null when this kernel does not
    /// offer <c>recvmmsg</c>/<c>sendmmsg</c> (GSO and GRO are each used when available). Throws
    /// <see cref="OmniStoreException"/> for a bind that failed.
    /// </summary>
    public static DatagramSocket? TryOpen(IPEndPoint local) => TryOpen(local, useGso: true, useGro: true);

    /// <summary>As <see cref="TryOpen(IPEndPoint)"/>, with GSO or GRO left off on request (tests run the paths without them).</summary>
    internal static DatagramSocket? TryOpen(IPEndPoint local, bool useGso, bool useGro)
    {
        if (!OperatingSystem.IsLinux() || IntPtr.Size != 8)
        {
            return null;
        }

        var socket = CreateBound(local);

        try
        {
            bool gso = useGso && TryGso(socket);
            bool gro = useGro && TryGro(socket);
            if (!Probe(socket))
            {
                socket.Dispose();
                return null;
            }

            return new LinuxDatagramSocket(socket, gso, gro);
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>Whether the kernel knows UDP_SEGMENT (Linux 4.18): reading it answers ENOPROTOOPT when not.</summary>
    private static bool TryGso(Socket socket)
    {
        Span<byte> value = stackalloc byte[sizeof(int)];
        try
        {
            socket.GetRawSocketOption(SolUdp, UdpSegment, value);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Turns UDP_GRO on (Linux 5.0), or answers false.</summary>
    private static bool TryGro(Socket socket)
    {
        Span<byte> on = stackalloc byte[sizeof(int)];
        MemoryMarshal.Write(on, 1);
        try
        {
            socket.SetRawSocketOption(SolUdp, UdpGro, on);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// One call of each: <c>recvmmsg</c> without waiting on the new socket (EAGAIN: nothing there,
    /// and the call works) and <c>sendmmsg</c> of no message (0). ENOSYS, EPERM (seccomp) and the
    /// like answer false.
    /// </summary>
    private static bool Probe(Socket socket)
    {
        var buffer = stackalloc byte[16];
        var name = stackalloc byte[NameSize];
        IoVec vector = new() { Base = buffer, Length = 16 };
        MMsgHdr message = default;
        message.Header.Name = name;
        message.Header.NameLength = NameSize;
        message.Header.Iov = &vector;
        message.Header.IovLength = 1;

        int fd = (int)socket.Handle;
        int received = RecvMmsg(fd, &message, 1, MsgDontWait, null);
        if (received < 0 && Marshal.GetLastPInvokeError() is not EAgain)
        {
            return false;
        }

        return SendMmsg(fd, &message, 0, 0) == 0;
    }

    // ---- receiving --------------------------------------------------------------------------

    public override int Receive(DatagramBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Enter();
        try
        {
            return ReceiveEntered(batch);
        }
        finally
        {
            Leave();
        }
    }

    private int ReceiveEntered(DatagramBatch batch)
    {
        int count = Math.Min(batch.Count, ReceiveMessages);
        for (int i = 0; i < count; i++)
        {
            var buffer = batch.Buffers[i];
            ref var header = ref _receiveMessages[i].Header;
            header.NameLength = NameSize;
            header.Control = _gro ? _receiveControl + (i * ReceiveControlSize) : null;
            header.ControlLength = _gro ? (nuint)ReceiveControlSize : 0;
            header.Flags = 0;
            // The batch's buffers are allocated pinned (DatagramBatch), so their address holds.
            _receiveVectors[i].Base = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
            _receiveVectors[i].Length = (nuint)buffer.Length;
        }

        int received = RecvMmsg(Descriptor, _receiveMessages, (uint)count, MsgWaitForOne, null);
        int error = received < 0 ? Marshal.GetLastPInvokeError() : 0;
        ObjectDisposedException.ThrowIf(_disposed, this);

        if (received <= 0)
        {
            // EAGAIN: the quarter second passed; EINTR; ICMP errors of earlier sends
            // (ECONNREFUSED and the like): nothing to hand up.
            ObjectDisposedException.ThrowIf(error is EBadF or ENotSock, this);
            return 0;
        }

        int filled = 0;
        for (int i = 0; i < received; i++)
        {
            ref var message = ref _receiveMessages[i];
            if ((message.Header.Flags & MsgTrunc) != 0 || message.Header.NameLength > (uint)batch.Addresses[filled].Buffer.Length)
            {
                continue; // larger than the buffer: cut, so not handed up
            }

            if (filled != i)
            {
                (batch.Buffers[filled], batch.Buffers[i]) = (batch.Buffers[i], batch.Buffers[filled]);
            }

            var address = batch.Addresses[filled];
            int nameLength = (int)message.Header.NameLength;
            new ReadOnlySpan<byte>(message.Header.Name, nameLength).CopyTo(address.Buffer.Span);
            address.Size = nameLength;
            batch.Lengths[filled] = (int)message.Length;
            batch.SegmentSizes[filled] = _gro ? GroSegmentSize(ref message.Header) : 0;
            filled++;
        }

        return filled;
    }

    /// <summary>The segment size of the UDP_GRO control message, or 0 when there is none (one datagram).</summary>
    private static int GroSegmentSize(ref MsgHdr header)
    {
        byte* control = (byte*)header.Control;
        nuint length = header.ControlLength;
        nuint at = 0;
        while (at + (nuint)sizeof(CMsgHdr) <= length)
        {
            var cmsg = (CMsgHdr*)(control + at);
            if (cmsg->Length < (nuint)sizeof(CMsgHdr) || at + cmsg->Length > length)
            {
                break;
            }

            if (cmsg->Level == SolUdp && cmsg->Type == UdpGro && cmsg->Length >= (nuint)(sizeof(CMsgHdr) + sizeof(int)))
            {
                return Unsafe.ReadUnaligned<int>(control + at + sizeof(CMsgHdr));
            }

            at += (cmsg->Length + 7) & ~(nuint)7;
        }

        return 0;
    }

    // ---- sending ----------------------------------------------------------------------------

    public override void Send(ReadOnlySpan<OutgoingDatagrams> items)
    {
        Enter();
        int messages = 0;
        try
        {
            foreach (var item in items)
            {
                int total = item.Data.Length;
                if (total == 0)
                {
                    continue;
                }

                var to = item.To.Buffer.Span[..item.To.Size];
                if (to.Length > NameSize)
                {
                    CountSendDrop();
                    continue;
                }

                int segment = item.SegmentSize <= 0 || item.SegmentSize > total ? total : item.SegmentSize;
                _pins[_pinned++] = item.Data.Pin();
                byte* data = (byte*)_pins[_pinned - 1].Pointer;
                bool gso = _gso && segment < total;
                int perMessage = gso ? Math.Min(MaxGsoSegments, Math.Max(1, MaxGsoBytes / segment)) * segment : segment;
                for (int at = 0; at < total; at += perMessage)
                {
                    if (messages == SendMessages)
                    {
                        Flush(messages);
                        messages = 0;
                        Unpin(keepLast: true);
                    }

                    int length = Math.Min(perMessage, total - at);
                    ref var header = ref _sendMessages[messages].Header;
                    to.CopyTo(new Span<byte>(header.Name, NameSize));
                    header.NameLength = (uint)to.Length;
                    _sendVectors[messages].Base = data + at;
                    _sendVectors[messages].Length = (nuint)length;
                    if (gso && length > segment)
                    {
                        byte* control = _sendControl + (messages * SendControlSize);
                        var cmsg = (CMsgHdr*)control;
                        cmsg->Length = (nuint)(sizeof(CMsgHdr) + sizeof(ushort));
                        cmsg->Level = SolUdp;
                        cmsg->Type = UdpSegment;
                        Unsafe.WriteUnaligned(control + sizeof(CMsgHdr), (ushort)segment);
                        header.Control = control;
                        header.ControlLength = SendControlSize;
                        _sendSegments[messages] = segment;
                    }
                    else
                    {
                        header.Control = null;
                        header.ControlLength = 0;
                        _sendSegments[messages] = 0;
                    }

                    _sendDatagrams[messages] = (length + segment - 1) / segment;
                    messages++;
                }
            }

            if (messages > 0)
            {
                Flush(messages);
            }
        }
        finally
        {
            Unpin(keepLast: false);
            Leave();
        }
    }

    private void Unpin(bool keepLast)
    {
        int keep = keepLast && _pinned > 0 ? 1 : 0;
        for (int i = 0; i < _pinned - keep; i++)
        {
            _pins[i].Dispose();
            _pins[i] = default;
        }

        if (keep == 1)
        {
            _pins[0] = _pins[_pinned - 1];
            _pins[_pinned - 1] = default;
        }

        _pinned = keep;
    }

    /// <summary>Sends the first <paramref name="count"/> messages built, by as many <c>sendmmsg</c> as it takes.</summary>
    private void Flush(int count)
    {
        int at = 0;
        while (at < count)
        {
            int sent = SendMany(_sendMessages + at, count - at, out int error);
            if (sent > 0)
            {
                at += sent;
                continue;
            }

            if (error == EIntr)
            {
                continue;
            }

            // The message at 'at' was refused: GSO the device cannot do, or one datagram dropped.
            if (_sendSegments[at] > 0 && error is EIO or EInval)
            {
                // Off for good if the datagrams go one by one; if none goes either, the fault was
                // not GSO's (the address, say), and GSO stays on.
                _gso = false;
                if (SendSplit(ref _sendMessages[at].Header, _sendSegments[at]) == 0)
                {
                    _gso = true;
                }
            }
            else
            {
                CountSendDrop(_sendDatagrams[at]);
            }

            at++;
        }
    }

    /// <summary>Sends one GSO message again as one message per datagram; answers how many went.</summary>
    private int SendSplit(ref MsgHdr gsoMessage, int segment)
    {
        byte* data = (byte*)gsoMessage.Iov->Base;
        int total = (int)gsoMessage.Iov->Length;
        int count = 0;
        for (int at = 0; at < total; at += segment)
        {
            ref var header = ref _splitMessages[count].Header;
            header.Name = gsoMessage.Name;
            header.NameLength = gsoMessage.NameLength;
            _splitVectors[count].Base = data + at;
            _splitVectors[count].Length = (nuint)Math.Min(segment, total - at);
            count++;
        }

        int done = 0;
        int went = 0;
        while (done < count)
        {
            int sent = SendMany(_splitMessages + done, count - done, out int error);
            if (sent > 0)
            {
                done += sent;
                went += sent;
            }
            else if (error != EIntr)
            {
                CountSendDrop();
                done++;
            }
        }

        return went;
    }

    /// <summary>One <c>sendmmsg</c>: how many messages went (or -1 and the errno). Throws once disposed.</summary>
    private int SendMany(MMsgHdr* messages, int count, out int error)
    {
        int sent = SendMmsg(Descriptor, messages, (uint)count, 0);
        error = sent < 0 ? Marshal.GetLastPInvokeError() : 0;

        ObjectDisposedException.ThrowIf(sent < 0 && (_disposed || error is EBadF or ENotSock or EPipe), this);

        return sent;
    }

    // ---- lifetime ---------------------------------------------------------------------------

    private int Descriptor => (int)_handle.DangerousGetHandle();

    /// <summary>
    /// Holds the native memory and the descriptor for one call (the receiving or the sending thread's) (the descriptor through the socket's
    /// own reference count, so it is not closed, nor its number reused, while a call is in it).
    /// </summary>
    private void Enter()
    {
        while (true)
        {
            int references = Volatile.Read(ref _references);
            ObjectDisposedException.ThrowIf(references == 0 || _disposed, this);

            if (Interlocked.CompareExchange(ref _references, references + 1, references) == references)
            {
                break;
            }
        }

        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        finally
        {
            if (!added)
            {
                Release();
            }
        }
    }

    private void Leave()
    {
        _handle.DangerousRelease();
        Release();
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            NativeMemory.AlignedFree(_memory);
        }
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposing, 1) != 0)
        {
            return;
        }

        _disposed = true;

        // Wakes a receive blocked in recvmmsg at once (on an unconnected UDP socket the kernel
        // answers ENOTCONN yet marks it shut); the receive timeout is the backstop.
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        _socket.Dispose();
        Release();
    }

    // ---- libc -------------------------------------------------------------------------------

    /// <summary><c>struct iovec</c> (64-bit).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary><c>struct msghdr</c> (64-bit Linux: 56 bytes, padding after the name length and the flags).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public byte* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary><c>struct mmsghdr</c>: a header and the bytes that message carried (64 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    /// <summary><c>struct cmsghdr</c> (64-bit Linux: 16 bytes, data 8-aligned after it).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CMsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMmsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    private static partial int SendMmsg(int fd, MMsgHdr* messages, uint count, int flags);
}
