namespace OmniStore.Transport;

/// <summary>What <see cref="IConnectionListener.AcceptAsync"/> found.</summary>
internal enum AcceptStatus
{
    /// <summary>A connection: see <see cref="AcceptResult.Connection"/>.</summary>
    Accepted,

    /// <summary>The listener was disposed; there will be no more connections.</summary>
    Stopped,

    /// <summary>One connection failed before it could be accepted (reset by its peer): accept the next.</summary>
    ConnectionFailed,

    /// <summary>Accepting failed for a reason that may last (EMFILE, ENFILE, ENOBUFS, ...): back off, then accept again.</summary>
    ListenerFailed,
}

/// <summary>The outcome of one accept.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Connection">The connection, when <see cref="AcceptStatus.Accepted"/>; the caller owns it.</param>
/// <param name="Problem">A failed accept's error, for a log line.</param>
internal readonly record struct AcceptResult(AcceptStatus Status, IncomingConnection? Connection, string? Problem)
{
    public static AcceptResult Stopped => new(AcceptStatus.Stopped, null, null);
}
