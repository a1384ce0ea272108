namespace OmniStore.Transport;

/// <summary>
/// A transport that can receive bytes straight into a caller's buffer, around its input pipe. The
/// protocol lands large frame payloads (chunks) in their message buffer this way instead of copying
/// them out of the pipe: one pass over the data saved per hop. The pipe reads small (see the
/// transport's read size), so little of a large payload arrives through it first.
/// </summary>
internal interface IDirectReceiver
{
    /// <summary>
    /// Fills <paramref name="destination"/> with the next bytes of the stream. The caller must have
    /// consumed everything the input pipe holds and must not read the pipe until this completes.
    /// Throws <see cref="EndOfStreamException"/> when the peer closes first, <see cref="IOException"/>
    /// when the connection fails.
    /// </summary>
    ValueTask ReceiveExactlyAsync(Memory<byte> destination, CancellationToken cancellationToken);
}
