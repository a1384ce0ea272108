namespace OmniStore.Protocol;

/// <summary>
/// How a connection tells a live peer from a dead or stalling one (docs/protocol.md, "Keep-alive"):
/// after <see cref="KeepAliveInterval"/> without a frame from the peer it sends a PING, which a
/// live peer answers; a peer that sends no complete frame for <see cref="IdleTimeout"/>, or no
/// frame of a message it started, is declared dead and the connection closed. Liveness is counted
/// in complete frames, not bytes, so a peer trickling one byte at a time does not keep it open.
/// </summary>
/// <param name="KeepAliveInterval">Silence from the peer after which a PING is sent; below <paramref name="IdleTimeout"/>.</param>
/// <param name="IdleTimeout">Silence (in frames) after which the peer is declared dead.</param>
internal sealed record ConnectionLiveness(TimeSpan KeepAliveInterval, TimeSpan IdleTimeout)
{
    /// <summary>
    /// Well under the 30 s after which many NATs and firewalls forget an idle TCP mapping, so that
    /// either end's PING keeps it open.
    /// </summary>
    public static readonly TimeSpan DefaultKeepAliveInterval = TimeSpan.FromSeconds(10);

    /// <summary>Three keep-alive intervals: a live peer has missed at least two PINGs by then.</summary>
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(30);

    /// <summary>What every connection uses until its owner says otherwise.</summary>
    public static ConnectionLiveness Default { get; } = new(DefaultKeepAliveInterval, DefaultIdleTimeout);

    /// <summary>How often a connection looks at its clocks: it acts at most this late.</summary>
    internal TimeSpan CheckPeriod =>
        TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 10, Math.Min(KeepAliveInterval.Ticks, IdleTimeout.Ticks) / 4));

    /// <summary>Throws if a setting is out of range, naming it.</summary>
    public void Validate(string argumentName = "liveness")
    {
        // The timers count in milliseconds, and a day of silence is not liveness any more.
        var max = TimeSpan.FromDays(1);
        if (KeepAliveInterval < TimeSpan.FromMilliseconds(10) || KeepAliveInterval > max)
        {
            throw new ArgumentOutOfRangeException(argumentName, KeepAliveInterval, $"{nameof(KeepAliveInterval)} must be between 10 ms and 1 day.");
        }

        if (IdleTimeout <= KeepAliveInterval || IdleTimeout > max)
        {
            throw new ArgumentOutOfRangeException(argumentName, IdleTimeout, $"{nameof(IdleTimeout)} must be longer than {nameof(KeepAliveInterval)} ({KeepAliveInterval.TotalSeconds} s), so that a live peer can answer a PING in time, and at most 1 day.");
        }
    }
}
