namespace OmniStore.Transport;

/// <summary>
/// A transport that sends several buffers, in order, in one system call, without first copying
/// them into its output pipe. Large payloads take this path: every copy saved is one pass over the
/// data per hop. It carries bytes only; what they mean is the caller's.
/// </summary>
internal interface IGatheringSender
{
    /// <summary>
    /// Sends <paramref name="buffers"/> after everything already flushed from the output pipe (the
    /// caller must have flushed it and must not write to it until this completes). Returns false,
    /// having sent nothing, when these buffers cannot be sent directly; the caller then copies them
    /// through the pipe. Throws <see cref="IOException"/> when the connection fails.
    /// </summary>
    ValueTask<bool> TrySendAsync(IReadOnlyList<ReadOnlyMemory<byte>> buffers);
}
