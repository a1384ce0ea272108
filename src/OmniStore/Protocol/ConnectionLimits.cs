namespace OmniStore.Protocol;

/// <summary>
/// What one connection may make this end hold and wait for. Every value bounds what a peer can cost
/// on its word alone; see docs/security.md.
/// </summary>
internal sealed record ConnectionLimits
{
    /// <summary>The limits with their defaults, no node-wide budget.</summary>
    public static ConnectionLimits Default { get; } = new();

    /// <summary>
    /// Bytes of received messages one connection may hold: messages still arriving and requests
    /// waiting to be served. Past it the connection is not read until its requests are served (the
    /// peer's sends wait, as TCP's flow control makes them); a peer whose unfinished messages alone
    /// pass it is closed with <see cref="OmniStoreError.ProtocolError"/>, since nothing it sent could
    /// be served to make room. It must hold a client's window of chunks (16 chunks of 1 MiB by
    /// default: 32 MiB of pooled buffers). Defaults to 128 MiB.
    /// </summary>
    public long MaxReceiveBytes { get; init; } = 128L << 20;

    /// <summary>
    /// Bytes of answers one connection may have being read from the store and sent at once (chunks
    /// for a peer that reads slowly or not at all wait their turn rather than sit in memory).
    /// A single answer larger than this is still sent, alone. Defaults to 32 MiB.
    /// </summary>
    public long MaxSendBytes { get; init; } = 32L << 20;

    /// <summary>
    /// How long one send (a frame, or a batch of frames) may wait for the peer to make room before
    /// the connection is closed as frozen. Defaults to 60 s.
    /// </summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a connection waits for memory (its own <see cref="MaxReceiveBytes"/> or the node's
    /// budget) before it is closed. Defaults to 60 s.
    /// </summary>
    public TimeSpan MemoryWaitTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The node-wide budget this connection charges too; null for none. Defaults to null.</summary>
    public MemoryBudget? Budget { get; init; }

    /// <summary>
    /// Whether the budget may close this connection to make room. A relay's link to its parent is
    /// not: every child depends on it, and what it receives answers the relay's own requests.
    /// Defaults to true.
    /// </summary>
    public bool MayBeShed { get; init; } = true;

    public void Validate(string argumentName = "limits")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReceiveBytes, 4L << 20, argumentName);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSendBytes, 1L << 20, argumentName);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SendTimeout, TimeSpan.Zero, argumentName);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MemoryWaitTimeout, TimeSpan.Zero, argumentName);
    }
}
