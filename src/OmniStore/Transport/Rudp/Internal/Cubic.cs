namespace OmniStore.Transport.Rudp.Internal;

/// <summary>
/// CUBIC congestion control (RFC 9438), rudp's option to BBR: after a congestion event the window
/// drops to <see cref="Beta"/> of what it was and grows again along a cubic curve centred on that
/// value (concave up to it, convex past it), never slower than Reno would (the Reno-friendly
/// region), with fast convergence. Slow start leaves early on a rising RTT by HyStart++ (RFC 9406).
/// One reduction per round trip. Paced at 2x the window per smoothed RTT in slow start and 1.2x
/// after, as Linux paces CUBIC (docs/rudp.md, "Congestion control and pacing"). Bytes and
/// microseconds throughout; the cubic function counts segments and seconds, as the RFC does.
/// </summary>
internal sealed class Cubic : ICongestionController
{
    /// <summary>RFC 9438's C, segments per second cubed.</summary>
    public const double C = 0.4;

    /// <summary>RFC 9438's beta_cubic: the window after a congestion event, as a fraction of the window before it.</summary>
    public const double Beta = 0.7;

    /// <summary>RFC 9438's alpha_cubic for the Reno-friendly estimate, 3 (1 - beta) / (1 + beta).</summary>
    public const double RenoAlpha = 3 * (1 - Beta) / (1 + Beta);

    // HyStart++ (RFC 9406, section 4.3).
    private const int MinRttSamples = 8;
    private const long MinRttThreshold = 4_000;
    private const long MaxRttThreshold = 16_000;
    private const int CssGrowthDivisor = 4;
    private const int CssRounds = 5;

    private readonly int _mss;
    private readonly RttEstimator _rtt;
    private long _ssthresh = long.MaxValue;
    private double _wMax;           // segments, the window at the last congestion event
    private double _k;              // seconds to regain _wMax
    private long _epochStart = -1;  // microseconds; -1: no congestion-avoidance epoch yet
    private double _wEst;           // segments, the Reno-friendly estimate
    private long _reductionAt = -1; // when the window was last reduced: losses of packets sent before belong to that event
    private bool _inRecovery;       // until a packet sent after the reduction is acknowledged

    // Rounds, by delivered bytes as BBR counts them: a round ends when a packet sent after it began is acknowledged.
    private long _delivered;
    private long _nextRoundDelivered;

    // HyStart++.
    private long _lastRoundMinRtt = long.MaxValue;
    private long _currentRoundMinRtt = long.MaxValue;
    private int _rttSamples;
    private bool _conservative;
    private long _cssBaselineMinRtt = long.MaxValue;
    private int _cssRoundsLeft;

    public Cubic(int mss, RttEstimator rtt)
    {
        _mss = mss;
        _rtt = rtt;
        CongestionWindow = 10L * mss;
    }

    public string State => $"cubic/{(_inRecovery ? "Recovery" : InSlowStart ? (_conservative ? "ConservativeSlowStart" : "SlowStart") : "CongestionAvoidance")}";

    public long CongestionWindow { get; private set; }

    public long PacingRate
    {
        get
        {
            long rtt = _rtt.HasSample ? Math.Max(_rtt.Smoothed, RttEstimator.Granularity) : RttEstimator.InitialRtt;
            return (long)((InSlowStart ? 2.0 : 1.2) * CongestionWindow * 1_000_000 / rtt);
        }
    }

    /// <summary>The slow-start threshold (long.MaxValue until the first congestion event or HyStart++'s exit).</summary>
    public long SlowStartThreshold => _ssthresh;

    /// <summary>The window, in segments, at the last congestion event (RFC 9438's W_max).</summary>
    public double WindowMax => _wMax;

    /// <summary>Seconds from the last congestion event until the curve regains <see cref="WindowMax"/> (RFC 9438's K).</summary>
    public double K => _k;

    private bool InSlowStart => CongestionWindow < _ssthresh;

    private long MinWindow => Math.Max(2L * _mss, 2L * _maxDatagram);

    private int _maxDatagram;

    /// <summary>CUBIC paces from the RTT estimator it shares with the connection: nothing to do.</summary>
    public void OnInitialRtt(long rtt)
    {
    }

    public void OnAck(IReadOnlyList<SentPacket> acknowledged, RateSample? sample, long minRtt, long now, long bytesInFlight)
    {
        long ackedBytes = 0;
        bool newRound = false;
        foreach (var packet in acknowledged)
        {
            ackedBytes += packet.Size;
            if (packet.DeliveredAtSend >= _nextRoundDelivered)
            {
                newRound = true;
            }

            if (_inRecovery && packet.SentAt > _reductionAt)
            {
                _inRecovery = false; // a packet sent after the reduction came back: recovery is over
            }
        }

        if (sample is { Rtt: > 0 } rate)
        {
            OnRttSample(rate.Rtt);
        }

        _delivered += ackedBytes;
        if (newRound)
        {
            _nextRoundDelivered = _delivered;
            OnRoundStart();
        }

        if (ackedBytes == 0 || _inRecovery || sample is { AppLimited: true })
        {
            return; // nothing new, still recovering, or the sender was not using the window (RFC 9438, 4.2)
        }

        if (InSlowStart)
        {
            SlowStart(ackedBytes);
        }
        else
        {
            CongestionAvoidance(ackedBytes, now);
        }
    }

    public void OnMaxDatagram(int size)
    {
        _maxDatagram = Math.Max(_maxDatagram, size);
        CongestionWindow = Math.Max(CongestionWindow, MinWindow);
    }

    public void OnLoss(IReadOnlyList<SentPacket> lost, long now, long bytesInFlight)
    {
        // One reduction per round trip: a loss of a packet sent before the last reduction is part of that event.
        long latestSent = -1;
        foreach (var packet in lost)
        {
            latestSent = Math.Max(latestSent, packet.SentAt);
        }

        if (latestSent < 0 || latestSent <= _reductionAt)
        {
            return;
        }

        double cwnd = (double)CongestionWindow / _mss;
        _wMax = cwnd < _wMax ? cwnd * (1 + Beta) / 2 : cwnd; // fast convergence: yield to newer flows
        CongestionWindow = Math.Max((long)(CongestionWindow * Beta), MinWindow);
        _ssthresh = CongestionWindow;
        _reductionAt = now;
        _inRecovery = true;
        _epochStart = -1;
        _conservative = false;
    }

    private void SlowStart(long ackedBytes)
    {
        long increase = _conservative ? ackedBytes / CssGrowthDivisor : ackedBytes;
        CongestionWindow += Math.Max(increase, 1);
    }

    private void CongestionAvoidance(long ackedBytes, long now)
    {
        double cwnd = (double)CongestionWindow / _mss;
        if (_epochStart < 0)
        {
            _epochStart = now;
            if (_wMax <= cwnd)
            {
                _wMax = cwnd; // no earlier event (HyStart++'s exit), or the window already past it
                _k = 0;
            }
            else
            {
                _k = Math.Cbrt((_wMax - cwnd) / C);
            }

            _wEst = cwnd;
        }

        double rtt = (_rtt.HasSample ? _rtt.Smoothed : RttEstimator.InitialRtt) / 1e6;
        double t = (now - _epochStart) / 1e6;
        double target = WCubic(t + rtt);
        target = Math.Clamp(target, cwnd, 1.5 * cwnd);

        // The Reno-friendly estimate: alpha_cubic per window of acks, 1 once past W_max (RFC 9438, 4.3).
        double ackedSegments = (double)ackedBytes / _mss;
        _wEst += (_wEst >= _wMax ? 1.0 : RenoAlpha) * ackedSegments / cwnd;

        double next = WCubic(t) < _wEst
            ? Math.Max(cwnd, _wEst)
            : cwnd + ((target - cwnd) / cwnd * ackedSegments);
        CongestionWindow = Math.Max((long)(next * _mss), MinWindow);
    }

    /// <summary>RFC 9438's W_cubic(t), in segments, t in seconds since the epoch began.</summary>
    public double WCubic(double t) => (C * Math.Pow(t - _k, 3)) + _wMax;

    /// <summary>HyStart++ at a round's start: the previous round's minimum RTT becomes the baseline.</summary>
    private void OnRoundStart()
    {
        if (InSlowStart && _conservative && --_cssRoundsLeft <= 0)
        {
            _ssthresh = CongestionWindow; // CSS_ROUNDS without the RTT coming back down: congestion avoidance
            _conservative = false;
        }

        _lastRoundMinRtt = _currentRoundMinRtt;
        _currentRoundMinRtt = long.MaxValue;
        _rttSamples = 0;
    }

    /// <summary>An RTT sample, from an ack's rate sample: HyStart++ watches them in slow start.</summary>
    private void OnRttSample(long latestRtt)
    {
        if (!InSlowStart)
        {
            return;
        }

        _currentRoundMinRtt = Math.Min(_currentRoundMinRtt, latestRtt);
        _rttSamples++;
        if (_rttSamples < MinRttSamples || _lastRoundMinRtt == long.MaxValue || _currentRoundMinRtt == long.MaxValue)
        {
            return;
        }

        if (!_conservative)
        {
            long threshold = Math.Clamp(_lastRoundMinRtt / 8, MinRttThreshold, MaxRttThreshold);
            if (_currentRoundMinRtt >= _lastRoundMinRtt + threshold)
            {
                _conservative = true;
                _cssBaselineMinRtt = _currentRoundMinRtt;
                _cssRoundsLeft = CssRounds;
            }
        }
        else if (_currentRoundMinRtt < _cssBaselineMinRtt)
        {
            _conservative = false; // the RTT came back down: a false exit, slow start again
        }
    }
}
