namespace OmniStore.Transport.Tcp;

/// <summary>What <see cref="TcpConnectionListener.AcceptAsync"/> found.</summary>
internal enum TcpAcceptStatus
{
    /// <summary>A connection: see <see cref="TcpAcceptResult.Socket"/>.</summary>
    Accepted,

    /// <summary>The listener was disposed; there will be no more connections.</summary>
    Stopped,

    /// <summary>One connection failed before it could be accepted (reset by its peer): accept the next.</summary>
    ConnectionFailed,

    /// <summary>Accepting failed for a reason that may last (EMFILE, ENFILE, ENOBUFS, ...): back off, then accept again.</summary>
    ListenerFailed,
}
