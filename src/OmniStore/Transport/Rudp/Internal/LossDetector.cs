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

    // Packet numbers are dense and increasing: in flight is a map by number plus the oldest number
    // still in it, so an ACK and a loss scan touch only the span of numbers in flight.
    private readonly Dictionary<long, SentPacket> _inFlight = [];
    private long _oldest;
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

        if (_inFlight.Count == 0)
        {
            _oldest = packet.Number;
        }

        _largestSent = packet.Number;
        _inFlight.Add(packet.Number, packet);
        BytesInFlight += packet.Size;
    }

    /// <summary>A packet that asks for no ack (ACK frames only) was sent: it is not in flight, but the peer may acknowledge its number.</summary>
    public void OnSentUntracked(long number)
    {
        if (number <= _largestSent)
        {
            throw new InvalidOperationException($"Packet {number} sent after packet {_largestSent}: packet numbers are never reused.");
        }

        _largestSent = number;
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

        int first = acknowledged.Count;
        for (int r = ranges.Length - 1; r >= 0; r--)
        {
            // Only the numbers still in flight: a range may span far more than was ever unacknowledged.
            for (long n = Math.Max(ranges[r].Smallest, _oldest); n <= ranges[r].Largest; n++)
            {
                if (_inFlight.Remove(n, out var packet))
                {
                    BytesInFlight -= packet.Size;
                    acknowledged.Add(packet);
                }
            }
        }

        AdvanceOldest();
        if (acknowledged.Count == first)
        {
            return true; // duplicates of acks already applied
        }

        _largestAcknowledged = Math.Max(_largestAcknowledged, ranges[0].Largest);
        var largestNew = acknowledged[^1];
        bool elicited = false;
        for (int i = first; i < acknowledged.Count; i++)
        {
            elicited |= acknowledged[i].AckEliciting;
        }

        if (largestNew.Number == ranges[0].Largest && elicited)
        {
            rtt.Update(now - largestNew.SentAt, ackDelay, maxAckDelay);
        }

        DetectLost(now, lost);
        return true;
    }

    /// <summary>The packets lost by now (for the loss timer); adds them to <paramref name="lost"/>, oldest first.</summary>
    public void DetectLost(long now, List<SentPacket> lost)
    {
        long lossDelay = rtt.LossDelay;
        for (long n = _oldest; n < _largestAcknowledged; n++)
        {
            if (!_inFlight.TryGetValue(n, out var packet))
            {
                continue;
            }

            if (n > _largestAcknowledged - PacketThreshold && now - packet.SentAt < lossDelay)
            {
                break; // younger ones, sent later and closer to the largest acknowledged, are not lost either
            }

            _inFlight.Remove(n);
            BytesInFlight -= packet.Size;
            lost.Add(packet);
        }

        AdvanceOldest();
    }

    /// <summary>
    /// When the oldest packet that could still be declared lost by time will be, or null when none
    /// can (RFC 9002's loss time): the sender's loss timer.
    /// </summary>
    public long? LossTime()
    {
        return _inFlight.Count > 0 && _oldest < _largestAcknowledged && _inFlight.TryGetValue(_oldest, out var packet)
            ? packet.SentAt + rtt.LossDelay
            : null;
    }

    private void AdvanceOldest()
    {
        while (_inFlight.Count > 0 && !_inFlight.ContainsKey(_oldest))
        {
            _oldest++;
        }
    }
}
