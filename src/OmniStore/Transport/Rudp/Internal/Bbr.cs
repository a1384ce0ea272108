namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// BBR congestion control (Cardwell et al., ACM Queue 2016; draft-cardwell-iccrg-bbr-congestion-control):
/// the path is modelled by its bottleneck bandwidth (the maximum delivery rate over the last
/// <see cref="BandwidthWindowRounds"/> round trips) and its minimum RTT (over
/// <see cref="MinRttWindow"/>); the sender paces at a gain times the bandwidth and keeps at most
/// <see cref="CwndGain"/> bandwidth-delay products in flight. States: Startup, Drain, ProbeBW (an
/// eight-phase gain cycle) and ProbeRTT. Random loss does not shrink the window; from BBRv2 this
/// takes one thing, a bound on data in flight after a round trip that lost more than
/// <see cref="LossThreshold"/> of what it delivered, raised again while probing (docs/rudp.md).
/// </summary>
internal sealed class Bbr : ICongestionController
{
    public const double StartupGain = 2.885; // 2 / ln 2
    public const double CwndGain = 2.0;
    public const int BandwidthWindowRounds = 10;
    public const long MinRttWindow = 10_000_000;
    public const long ProbeRttDuration = 200_000;
    public const double LossThreshold = 0.02;
    public const double LossBeta = 0.7;
    private static readonly double[] CycleGains = [1.25, 0.75, 1, 1, 1, 1, 1, 1];

    private int _mss;
    private readonly long[] _bandwidthByRound = new long[BandwidthWindowRounds];
    private BbrState _state = BbrState.Startup;
    private long _round;
    private long _nextRoundDelivered;
    private long _delivered;
    private long _minRtt = long.MaxValue;
    private long _minRttStamp;
    private long _fullBandwidth;
    private int _fullBandwidthRounds;
    private int _cycleIndex;
    private long _cycleStart;
    private long _probeRttDone;
    private long _inflightHigh = long.MaxValue;
    private long _roundLost;
    private long _roundMinRtt = long.MaxValue;     // the least RTT sample of this round so far
    private long _lastRoundMinRtt = long.MaxValue; // and of the round before
    private long _roundDelivered;
    private long _probeUpRounds;

    // Ack aggregation (Linux's bbr_update_ack_aggregation): how far the bytes acknowledged since an
    // epoch began ran ahead of what the bandwidth estimate would have delivered, the maximum of
    // each of two windows of AggregationWindowRounds round trips.
    public const int AggregationWindowRounds = 5;
    public const long AggregationMaxTime = 100_000;
    private readonly long[] _extraAcked = new long[2];
    private int _extraAckedSlot;
    private int _extraAckedRounds;
    private long _ackEpochStart = -1;
    private long _ackEpochAcked;

    private bool _hasSeenRtt;

    public Bbr(int mss, long now)
    {
        _mss = mss;
        _minRttStamp = now;
        CongestionWindow = 10L * mss;
        PacingRate = (long)(StartupGain * CongestionWindow * 1_000_000 / RttEstimator.InitialRtt);
    }

    /// <summary>
    /// The first round trip measured re-derives the pacing rate from it while there is no bandwidth
    /// estimate yet (Linux's bbr_init_pacing_rate_from_rtt, on has_seen_rtt): paced from the 333 ms
    /// default, the first window took 3.5 round trips of a 40 ms path to leave, and Startup grew
    /// from a tenth of the rate the path's round trip allows.
    /// </summary>
    public void OnInitialRtt(long rtt)
    {
        if (_hasSeenRtt || rtt <= 0)
        {
            return;
        }

        _hasSeenRtt = true;
        if (Bandwidth == 0)
        {
            PacingRate = (long)(StartupGain * CongestionWindow * 1_000_000 / rtt);
        }
    }

    public string State => $"bbr/{_state}";

    public long CongestionWindow { get; private set; }

    public long PacingRate { get; private set; }

    /// <summary>The bottleneck bandwidth estimate, bytes per second.</summary>
    public long Bandwidth
    {
        get
        {
            long max = 0;
            foreach (long b in _bandwidthByRound)
            {
                max = Math.Max(max, b);
            }

            return max;
        }
    }

    /// <summary>The bound on data in flight after a lossy round (long.MaxValue when none).</summary>
    public long InflightHigh => _inflightHigh;

    private long MinCwnd => 4L * _mss;

    private long Bdp(double gain) => _minRtt == long.MaxValue || Bandwidth == 0
        ? 10L * _mss
        : (long)(gain * Bandwidth * _minRtt / 1_000_000);

    public void OnAck(IReadOnlyList<SentPacket> acknowledged, RateSample? sample, long minRtt, long now, long bytesInFlight)
    {
        OnInitialRtt(minRtt);
        bool roundStart = false;
        long newlyAcked = 0;
        foreach (var packet in acknowledged)
        {
            _roundMinRtt = Math.Min(_roundMinRtt, now - packet.SentAt);
            newlyAcked += packet.Size;
            _delivered += packet.Size;
            _roundDelivered += packet.Size;
            if (packet.DeliveredAtSend >= _nextRoundDelivered)
            {
                _nextRoundDelivered = _delivered;
                roundStart = true;
            }
        }

        if (roundStart)
        {
            EndRound(bytesInFlight);
        }

        if (sample is { } s && (!s.AppLimited || s.BytesPerSecond >= Bandwidth))
        {
            int slot = (int)(_round % BandwidthWindowRounds);
            _bandwidthByRound[slot] = Math.Max(_bandwidthByRound[slot], s.BytesPerSecond);
        }

        if (minRtt > 0 && (minRtt <= _minRtt || now - _minRttStamp > MinRttWindow))
        {
            if (minRtt < _minRtt || now - _minRttStamp > MinRttWindow)
            {
                _minRtt = minRtt;
            }

            _minRttStamp = now;
        }

        // A round the application limited says nothing of the path's bandwidth (BBRCheckFullBW).
        if (roundStart && _state == BbrState.Startup && sample is { AppLimited: false })
        {
            CheckFullBandwidth();
        }

        UpdateAckAggregation(newlyAcked, now, roundStart);
        UpdateState(now, bytesInFlight);
        SetRateAndWindow();
    }

    /// <summary>
    /// The bytes acknowledged beyond what the bandwidth estimate explains, at most: the receiver
    /// acknowledges every tenth packet, GRO hands it packets in batches, and a loopback or LAN path's
    /// RTT under load is several times its minimum, so acks come in bursts; a window of 2 BDP from
    /// the minimum RTT stalls between them. The most of the last 5-10 rounds is added to the window,
    /// at most 100 ms of the bandwidth (Linux's BBR since 4.19; BBRv2's extra_acked).
    /// </summary>
    private void UpdateAckAggregation(long newlyAcked, long now, bool roundStart)
    {
        if (roundStart && ++_extraAckedRounds >= AggregationWindowRounds)
        {
            _extraAckedRounds = 0;
            _extraAckedSlot ^= 1;
            _extraAcked[_extraAckedSlot] = 0;
        }

        long bandwidth = Bandwidth;
        long elapsed = _ackEpochStart < 0 ? 0 : now - _ackEpochStart;
        long expected = elapsed is <= 0 or > 1_000_000 ? 0 : bandwidth * elapsed / 1_000_000;
        if (_ackEpochStart < 0 || elapsed > 1_000_000 || _ackEpochAcked <= expected || _ackEpochAcked > 1L << 30)
        {
            // Acks caught up with the estimate, or none came for a second: a new epoch starts here.
            _ackEpochAcked = 0;
            _ackEpochStart = now;
            expected = 0;
        }

        _ackEpochAcked += newlyAcked;
        long extra = Math.Min(_ackEpochAcked - expected, CongestionWindow);
        _extraAcked[_extraAckedSlot] = Math.Max(_extraAcked[_extraAckedSlot], extra);
    }

    /// <summary>The window's allowance for ack aggregation (after Startup).</summary>
    private long AggregationAllowance => Math.Min(Math.Max(_extraAcked[0], _extraAcked[1]), Bandwidth * AggregationMaxTime / 1_000_000);

    public void OnMaxDatagram(int size)
    {
        _mss = Math.Max(_mss, size);
        SetRateAndWindow();
    }

    public void OnLoss(IReadOnlyList<SentPacket> lost, long now, long bytesInFlight)
    {
        foreach (var packet in lost)
        {
            _roundLost += packet.Size;
        }

        // A round losing more than the threshold bounds data in flight where the loss began (BBRv2's
        // inflight_hi), when the path has a standing queue (even the round's fastest packet took a
        // quarter longer than the path's minimum) or the round lost three times the threshold (a
        // shallow buffer overflowing shows no queue). Loss of a few percent with no queue is the
        // path's, not ours (a lossy WAN or radio link): sending less would not make it lose less,
        // and the bound would only shrink the rate round by round, as the model then measures what
        // the bound lets through. Where rudp differs from BBRv2, which bounds on any such loss.
        long roundMin = Math.Min(_roundMinRtt, _lastRoundMinRtt);
        bool queueing = _minRtt != long.MaxValue && roundMin != long.MaxValue && roundMin > _minRtt + (_minRtt / 4);
        double lossRate = (double)_roundLost / Math.Max(_roundDelivered + _roundLost, 1);
        // Without a queue, at least 8 packets lost in the round (BBRv2's bbr_full_loss_cnt): in a
        // small round, as in Startup's first, 3 random losses of 40 packets read as 7.5%.
        if (queueing ? lossRate > LossThreshold && _roundLost > 2L * _mss : lossRate > 3 * LossThreshold && _roundLost >= 8L * _mss)
        {
            // Never below one bandwidth-delay product: the pipe itself; what the bound takes away is queue.
            long bound = Math.Max(Math.Max((long)(LossBeta * (bytesInFlight + _roundLost)), Bdp(1)), MinCwnd);
            _inflightHigh = Math.Min(_inflightHigh, bound);
            _probeUpRounds = 0;
            if (_state == BbrState.Startup)
            {
                _state = BbrState.Drain; // the pipe is full: loss says so before the bandwidth stalls
            }
        }

        SetRateAndWindow();
    }

    private void EndRound(long bytesInFlight)
    {
        _round++;
        _bandwidthByRound[(int)(_round % BandwidthWindowRounds)] = 0;
        _roundLost = 0;
        _lastRoundMinRtt = _roundMinRtt;
        _roundMinRtt = long.MaxValue;
        _roundDelivered = 0;

        // In ProbeBW, each round raises the bound, more each round while no round loses heavily
        // (OnLoss lowers it again and restarts the growth): BBRv2's probing of inflight_hi.
        if (_inflightHigh != long.MaxValue && _state == BbrState.ProbeBw)
        {
            _probeUpRounds++;
            _inflightHigh += _mss * (1L << (int)Math.Min(_probeUpRounds, 20));
            if (_inflightHigh > 4 * Bdp(CwndGain))
            {
                _inflightHigh = long.MaxValue;
            }
        }
    }

    private void CheckFullBandwidth()
    {
        long bandwidth = Bandwidth;
        if (bandwidth >= _fullBandwidth * 5 / 4)
        {
            _fullBandwidth = bandwidth;
            _fullBandwidthRounds = 0;
            return;
        }

        if (++_fullBandwidthRounds >= 3)
        {
            _state = BbrState.Drain;
        }
    }

    private void UpdateState(long now, long bytesInFlight)
    {
        switch (_state)
        {
            case BbrState.Drain when bytesInFlight <= Bdp(1):
                _state = BbrState.ProbeBw;
                _cycleIndex = 2; // start cruising: the up-probe comes within the cycle
                _cycleStart = now;
                break;
            case BbrState.ProbeBw:
                long phase = _minRtt == long.MaxValue ? RttEstimator.InitialRtt : _minRtt;
                if (now - _cycleStart > phase)
                {
                    _cycleIndex = (_cycleIndex + 1) % CycleGains.Length;
                    _cycleStart = now;
                }

                break;
            case BbrState.ProbeRtt when now >= _probeRttDone:
                _minRttStamp = now;
                _state = BbrState.ProbeBw;
                _cycleStart = now;
                break;
        }

        if (_state != BbrState.ProbeRtt && _state != BbrState.Startup && now - _minRttStamp > MinRttWindow)
        {
            _state = BbrState.ProbeRtt;
            _probeRttDone = now + Math.Max(ProbeRttDuration, _minRtt == long.MaxValue ? 0 : _minRtt);
        }
    }

    private void SetRateAndWindow()
    {
        double pacingGain = _state switch
        {
            BbrState.Startup => StartupGain,
            BbrState.Drain => 1 / StartupGain,
            BbrState.ProbeBw => CycleGains[_cycleIndex],
            _ => 1,
        };
        long bandwidth = Bandwidth;
        if (bandwidth > 0)
        {
            long rate = (long)(pacingGain * bandwidth);
            // In Startup the rate only grows (the first samples are small).
            PacingRate = _state == BbrState.Startup ? Math.Max(PacingRate, rate) : rate;
        }

        // Linux's BBR adds three send quanta (its TSO budget) to the window: packets leave in
        // batches (here up to a GSO batch per pacing wake), and a window of one BDP on a path whose
        // BDP is a few packets (loopback: 30 us) would stall on every batch.
        long budget = 3 * Math.Clamp(PacingRate / 1000, 2L * _mss, 64 * 1024);
        long window = _state switch
        {
            BbrState.ProbeRtt => MinCwnd,
            BbrState.Startup => Math.Max(CongestionWindow, Bdp(StartupGain) + budget),
            _ => Bdp(CwndGain) + budget + AggregationAllowance,
        };
        CongestionWindow = Math.Max(Math.Min(window, _inflightHigh), MinCwnd);
    }

    private enum BbrState
    {
        Startup,
        Drain,
        ProbeBw,
        ProbeRtt,
    }
}
