namespace OmniStore.Lab.Wire;

/// <summary>
/// The packets of one direction in flight on the wire, in order. Within a queue a packet is released
/// no earlier than the one ahead of it, so release times never decrease and a FIFO ring is the whole
/// delay queue: no heap or timer wheel is needed. (Packets that reordering holds back wait in a
/// second queue of their own, which is just as ordered; the pump releases from both by time.) Packet memory lives in pinned slots
/// of <see cref="SlotSize"/> bytes, allocated in segments as the queue first grows and then reused;
/// a full queue drops the packet, as a router's full buffer does.
/// </summary>
internal sealed unsafe class DelayQueue
{
    /// <summary>Larger than any packet of the lab's 1500-byte MTU; a read longer than this is cut and counted as an error.</summary>
    public const int SlotSize = 2048;

    private const int SlotsPerSegmentShift = 8;
    private const int SlotsPerSegment = 1 << SlotsPerSegmentShift;

    private readonly byte[]?[] _segments;
    private readonly long[] _release;
    private readonly int[] _length;
    private readonly byte[] _copies;
    private readonly int _mask;
    private int _head;
    private int _tail;

    /// <param name="capacity">Packets the queue holds at most; a power of two.</param>
    public DelayQueue(int capacity)
    {
        if (capacity < SlotsPerSegment || (capacity & (capacity - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), $"Capacity must be a power of two of at least {SlotsPerSegment}.");
        }

        _segments = new byte[]?[capacity / SlotsPerSegment];
        _release = new long[capacity];
        _length = new int[capacity];
        _copies = new byte[capacity];
        _mask = capacity - 1;
    }

    public int Count => _tail - _head;

    public bool IsFull => Count == _release.Length;

    /// <summary>Release time of the oldest packet, or <see cref="long.MaxValue"/> when empty.</summary>
    public long NextRelease => _head == _tail ? long.MaxValue : _release[_head & _mask];

    /// <summary>The slot the next enqueued packet goes into: read straight into it, then <see cref="Commit"/> or forget it.</summary>
    public byte* TailSlot => SlotAt(_tail & _mask);

    public byte* HeadSlot => SlotAt(_head & _mask);

    public int HeadLength => _length[_head & _mask];

    /// <summary>How many times the oldest packet is written when released: 1, or 2 for a duplicated packet.</summary>
    public int HeadCopies => _copies[_head & _mask];

    /// <summary>Release time of the newest packet, or <see cref="long.MinValue"/> when empty.</summary>
    public long LastRelease => _head == _tail ? long.MinValue : _release[(_tail - 1) & _mask];

    public void Commit(int length, long release, int copies = 1)
    {
        var index = _tail & _mask;
        _length[index] = length;
        _release[index] = release;
        _copies[index] = (byte)copies;
        _tail++;
    }

    public void Dequeue() => _head++;

    private byte* SlotAt(int index)
    {
        var segment = _segments[index >> SlotsPerSegmentShift] ??= GC.AllocateUninitializedArray<byte>(SlotsPerSegment * SlotSize, pinned: true);
        // Pinned arrays never move, so the address stays valid for the life of the queue.
        fixed (byte* start = segment)
        {
            return start + ((index & (SlotsPerSegment - 1)) * SlotSize);
        }
    }
}
