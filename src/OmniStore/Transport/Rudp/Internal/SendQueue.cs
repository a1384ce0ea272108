using System.Net;

namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// Datagrams built by the send thread, waiting for one batched send: consecutive datagrams of one
/// size to one address share an item (a GSO batch, at most <see cref="MaxSegments"/> and 64 KiB;
/// a shorter one may end it). One pinned buffer, reused; not thread-safe (the send thread owns it).
/// </summary>
internal sealed class SendQueue(DatagramSocket socket, int capacity = 512 * 1024)
{
    /// <summary>Datagrams in one GSO item, at most (the kernel's UDP_MAX_SEGMENTS is 64).</summary>
    public const int MaxSegments = 64;

    private const int MaxItemBytes = 65_000;

    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(capacity, pinned: true);
    private readonly List<OutgoingDatagrams> _items = [];
    private int _used;

    // The open item: where it starts, its address, its segment size, how many datagrams, whether a short one closed it.
    private int _itemStart;
    private SocketAddress? _itemTo;
    private int _itemSegment;
    private int _itemCount;
    private bool _itemClosed = true;

    /// <summary>Datagrams sent so far, and bytes.</summary>
    public long Datagrams { get; private set; }

    public long Bytes { get; private set; }

    /// <summary>Room for a datagram of up to <paramref name="maxSize"/> bytes (sending what is queued first when the buffer is full).</summary>
    public Span<byte> Reserve(int maxSize)
    {
        if (_used + maxSize > _buffer.Length)
        {
            Flush();
        }

        return _buffer.AsSpan(_used, maxSize);
    }

    /// <summary>The datagram just written into the last <see cref="Reserve"/>d span is <paramref name="size"/> bytes, to <paramref name="to"/>.</summary>
    public void Commit(SocketAddress to, int size)
    {
        Datagrams++;
        Bytes += size;
        bool joins = !_itemClosed && _itemTo is { } open && (ReferenceEquals(open, to) || open.Equals(to))
            && size <= _itemSegment && _itemCount < MaxSegments && _used + size - _itemStart <= MaxItemBytes;
        if (!joins)
        {
            CloseItem();
            _itemStart = _used;
            _itemTo = to;
            _itemSegment = size;
            _itemCount = 0;
            _itemClosed = false;
        }

        _used += size;
        _itemCount++;
        if (size < _itemSegment)
        {
            CloseItem(); // only the last datagram of a GSO batch may be shorter
        }
    }

    /// <summary>Sends everything queued.</summary>
    public void Flush()
    {
        CloseItem();
        if (_items.Count > 0)
        {
            socket.Send(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_items));
            _items.Clear();
        }

        _used = 0;
    }

    private void CloseItem()
    {
        if (!_itemClosed && _itemTo is { } to && _used > _itemStart)
        {
            _items.Add(new OutgoingDatagrams(to, _buffer.AsMemory(_itemStart, _used - _itemStart), _itemSegment));
        }

        _itemClosed = true;
        _itemTo = null;
    }
}
