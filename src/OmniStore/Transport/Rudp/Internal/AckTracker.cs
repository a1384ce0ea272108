namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// The receiving side of acknowledgment (docs/rudp.md, "Reliability"): which packet numbers
/// arrived, as at most <see cref="MaxRanges"/> ranges (the oldest are forgotten: a packet that old
/// was acknowledged many times already), whether one arrived twice, and when an ACK is due: at
/// once after a packet out of order; after every second ack-eliciting packet for the first
/// <see cref="EarlyPackets"/> of them, then after every <see cref="LaterAckEvery"/>th (ack
/// decimation: a paced flow arrives a packet at a time, and an ACK per two packets cost both ends
/// as much CPU as the data); else a delay after the first unacknowledged one: <c>max_ack_delay</c>,
/// or a quarter of the RTT when that is shorter (RFC 9000 section 13.2 and its ACK frequency
/// extension). Times in microseconds. Not thread-safe: one connection owns it.
/// </summary>
internal sealed class AckTracker(long maxAckDelay)
{
    /// <summary>Ranges kept and sent; RFC 9000 leaves the number to the implementation.</summary>
    public const int MaxRanges = 32;

    /// <summary>Ack-eliciting packets acknowledged every second one (slow start grows by the acks it gets).</summary>
    public const int EarlyPackets = 100;

    /// <summary>After <see cref="EarlyPackets"/>: an ACK at once after this many ack-eliciting packets.</summary>
    public const int LaterAckEvery = 10;

    /// <summary>The shortest delay the quarter RTT may give (the timer granularity).</summary>
    public const long MinDelay = 1_000;

    private long _elicitingReceived;
    private readonly long _maxAckDelay = maxAckDelay;
    private long _delay = maxAckDelay;

    // Newest first, apart (a gap of at least one between ranges).
    private readonly List<AckRange> _ranges = [];
    private int _unacknowledgedEliciting;
    private long _firstUnacknowledgedAt = -1;
    private long _largestReceivedAt;
    private bool _immediate;

    /// <summary>The largest packet number received, or -1.</summary>
    public long Largest => _ranges.Count == 0 ? -1 : _ranges[0].Largest;

    /// <summary>The ranges to acknowledge, newest first.</summary>
    public IReadOnlyList<AckRange> Ranges => _ranges;

    /// <summary>
    /// Records packet <paramref name="number"/> received at <paramref name="now"/>; false when it
    /// arrived before (a duplicate, whose frames the caller drops) or is older than every range kept.
    /// </summary>
    public bool OnReceived(long number, bool ackEliciting, long now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(number);

        long largestBefore = Largest;
        if (!Insert(number))
        {
            return false;
        }

        if (number > largestBefore)
        {
            _largestReceivedAt = now;
        }

        if (ackEliciting)
        {
            // Out of order (a gap below it, or it fills one): the sender learns of the loss or the
            // reordering one RTT sooner (RFC 9000 section 13.2.1).
            if (number != largestBefore + 1)
            {
                _immediate = true;
            }

            if (++_unacknowledgedEliciting >= (++_elicitingReceived <= EarlyPackets ? 2 : LaterAckEvery))
            {
                _immediate = true;
            }

            if (_firstUnacknowledgedAt < 0)
            {
                _firstUnacknowledgedAt = now;
            }
        }

        return true;
    }

    /// <summary>When an ACK is due (at once: <paramref name="now"/> or earlier), or null when nothing awaits one.</summary>
    public long? AckDueAt(long now) =>
        _firstUnacknowledgedAt < 0 ? null : _immediate ? now : _firstUnacknowledgedAt + _delay;

    /// <summary>The connection's RTT estimate changed: a delayed ACK waits at most a quarter of <paramref name="smoothedRtt"/> (at least <see cref="MinDelay"/>, at most <c>max_ack_delay</c>).</summary>
    public void OnRtt(long smoothedRtt) => _delay = Math.Clamp(smoothedRtt / 4, Math.Min(MinDelay, _maxAckDelay), _maxAckDelay);

    /// <summary>The ack delay to report in an ACK sent at <paramref name="now"/>: how long the largest packet waited.</summary>
    public long AckDelay(long now) => Math.Max(0, now - _largestReceivedAt);

    /// <summary>An ACK was sent: nothing awaits one until the next ack-eliciting packet.</summary>
    public void OnAckSent()
    {
        _unacknowledgedEliciting = 0;
        _firstUnacknowledgedAt = -1;
        _immediate = false;
    }

    private bool Insert(long number)
    {
        // Find the first range (newest first) whose smallest is at or below the number.
        int i = 0;
        while (i < _ranges.Count && _ranges[i].Smallest > number)
        {
            i++;
        }

        if (i < _ranges.Count && _ranges[i].Largest >= number)
        {
            return false; // inside a range: a duplicate
        }

        if (i == _ranges.Count && _ranges.Count == MaxRanges)
        {
            return false; // older than everything kept
        }

        bool joinsNewer = i > 0 && _ranges[i - 1].Smallest == number + 1;
        bool joinsOlder = i < _ranges.Count && _ranges[i].Largest == number - 1;
        if (joinsNewer && joinsOlder)
        {
            _ranges[i - 1] = new AckRange(_ranges[i].Smallest, _ranges[i - 1].Largest);
            _ranges.RemoveAt(i);
        }
        else if (joinsNewer)
        {
            _ranges[i - 1] = _ranges[i - 1] with { Smallest = number };
        }
        else if (joinsOlder)
        {
            _ranges[i] = _ranges[i] with { Largest = number };
        }
        else
        {
            _ranges.Insert(i, new AckRange(number, number));
            if (_ranges.Count > MaxRanges)
            {
                _ranges.RemoveAt(_ranges.Count - 1);
            }
        }

        return true;
    }
}
