namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// The packets a sender has in flight, and what an ACK does to them (RFC 9002 section 6): packets
/// in the acknowledged ranges leave, the largest newly acknowledged one gives an RTT sample, and a
/// packet still unacknowledged is lost once a packet <see cref="PacketThreshold"/> numbers later
/// was acknowledged, or once it is older than <see cref="RttEstimator.LossDelay"/> and a later one
/// was. Times in microseconds on the sender's clock. Not thread-safe: one connection's sender owns it.
/// </summary>
internal sealed class LossDetector(RttEstimator rtt)
{
    /// <summary>RFC 9002's kPacketThreshold.</summary>
    public const int PacketThreshold = 3;

    private readonly SortedDictionary<long, SentPacket> _inFlight = [];
    private long _largestAcknowledged = -1;
    private long _largestSent = -1;

    /// <summary>Bytes of the packets in flight (what congestion control counts).</summary>
    public long BytesInFlight { get; private set; }

    public int PacketsInFlight => _inFlight.Count;

    public long LargestAcknowledged => _largestAcknowledged;

    /// <summary>Records a packet sent; numbers must increase (they are never reused).</summary>
    public void OnSent(SentPacket packet)
    {
        if (packet.Number <= _largestSent)
        {
            throw new InvalidOperationException($"Packet {packet.Number} sent after packet {_largestSent}: packet numbers are never reused.");
        }

        _largestSent = packet.Number;
        _inFlight.Add(packet.Number, packet);
        BytesInFlight += packet.Size;
    }

    /// <summary>
    /// Applies an ACK received at <paramref name="now"/>: adds the newly acknowledged and the lost
    /// packets to the lists given (oldest first) and returns false when the ACK names a packet that
    /// was never sent (a protocol violation: the caller closes the connection).
    /// </summary>
    public bool OnAck(ReadOnlySpan<AckRange> ranges, long ackDelay, long maxAckDelay, long now, List<SentPacket> acknowledged, List<SentPacket> lost)
    {
        if (ranges.IsEmpty)
        {
            return true;
        }

        if (ranges[0].Largest > _largestSent)
        {
            return false;
        }

        // One pass over the packets in flight, oldest first, against the ranges from the oldest up
        // (they arrive newest first): a window's worth of packets and at most 64 ranges.
        int next = ranges.Length - 1;
        List<long>? acked = null;
        foreach (long number in _inFlight.Keys)
        {
            while (next >= 0 && ranges[next].Largest < number)
            {
                next--;
            }

            if (next < 0)
            {
                break;
            }

            if (number >= ranges[next].Smallest)
            {
                (acked ??= []).Add(number);
            }
        }

        foreach (long number in acked ?? [])
        {
            var packet = _inFlight[number];
            _inFlight.Remove(number);
            BytesInFlight -= packet.Size;
            acknowledged.Add(packet);
        }

        acknowledged.Sort(static (a, b) => a.Number.CompareTo(b.Number));
        if (acknowledged.Count == 0)
        {
            return true; // duplicates of acks already applied
        }

        _largestAcknowledged = Math.Max(_largestAcknowledged, ranges[0].Largest);
        var largestNew = acknowledged[^1];
        if (largestNew.Number == ranges[0].Largest && acknowledged.Any(p => p.AckEliciting))
        {
            rtt.Update(now - largestNew.SentAt, ackDelay, maxAckDelay);
        }

        DetectLost(now, lost);
        return true;
    }

    /// <summary>The packets lost by now (for the loss timer); adds them to <paramref name="lost"/>.</summary>
    public void DetectLost(long now, List<SentPacket> lost)
    {
        long lossDelay = rtt.LossDelay;
        foreach (var packet in _inFlight.Values.Where(p => p.Number < _largestAcknowledged).ToList())
        {
            if (packet.Number <= _largestAcknowledged - PacketThreshold || now - packet.SentAt >= lossDelay)
            {
                _inFlight.Remove(packet.Number);
                BytesInFlight -= packet.Size;
                lost.Add(packet);
            }
        }
    }

    /// <summary>
    /// When the oldest packet that could still be declared lost by time will be, or null when none
    /// can (RFC 9002's loss time): the sender's loss timer.
    /// </summary>
    public long? LossTime()
    {
        foreach (var packet in _inFlight.Values)
        {
            if (packet.Number < _largestAcknowledged)
            {
                return packet.SentAt + rtt.LossDelay;
            }

            break;
        }

        return null;
    }
}
