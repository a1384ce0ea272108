using System.Buffers;

namespace OmniStore.Protocol;

/// <summary>
/// A whole received message: its type and payload in a buffer rented from the shared pool. The
/// receiver owns it and must dispose it exactly once; the payload is invalid afterwards. The
/// buffer is charged to <see cref="IMessageMemory"/> (the connection that received it) from the
/// moment it is rented until the message is disposed, so what a peer's messages hold is known.
/// </summary>
internal sealed class Message : IDisposable
{
    private readonly IMessageMemory? _memory;
    private byte[]? _buffer;

    public Message(FrameType type, uint stream, byte[] buffer, int length, IMessageMemory? memory = null)
    {
        Type = type;
        Stream = stream;
        _buffer = buffer;
        Length = length;
        _memory = memory;
        memory?.Charge(buffer.Length);
    }

    public FrameType Type { get; }

    public uint Stream { get; }

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Payload => (_buffer ?? throw new ObjectDisposedException(nameof(Message))).AsSpan(0, Length);

    public ReadOnlyMemory<byte> PayloadMemory => (_buffer ?? throw new ObjectDisposedException(nameof(Message))).AsMemory(0, Length);

    internal byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(Message));

    /// <summary>
    /// The length the message's own header announces (a chunk's), 0 if none: a claim. The buffer
    /// grows to it only once a quarter of it has arrived, so what a peer announces never costs more
    /// than four times what it sent.
    /// </summary>
    internal int Announced { get; init; }

    /// <summary>The trace context a TRACE frame gave this request (docs/protocol.md, "TRACE"), if any.</summary>
    internal System.Diagnostics.ActivityContext? Trace { get; set; }

    /// <summary>Bytes of the buffer held (0 once disposed).</summary>
    internal int Capacity => Volatile.Read(ref _buffer)?.Length ?? 0;

    internal void Append(ReadOnlySequence<byte> payload)
    {
        payload.CopyTo(AppendSpace((int)payload.Length).Span);
        Advance((int)payload.Length);
    }

    /// <summary>
    /// The next <paramref name="length"/> bytes after the payload, grown into if need be, for a
    /// receiver to fill; <see cref="Advance"/> then adds them to the payload. The buffer at least
    /// doubles when it grows, so a message received in pieces is copied a bounded number of times,
    /// and it grows only as bytes arrive: never on the word of a length the peer announced.
    /// </summary>
    internal Memory<byte> AppendSpace(int length)
    {
        if (Length + (long)length > _buffer!.Length)
        {
            long needed = Length + (long)length;
            long size = Math.Max(needed, 2L * _buffer.Length);
            if (Announced >= needed && needed >= Announced / 4)
            {
                size = Announced; // the rest is coming: one buffer of the announced size, no more copies
            }

            var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(ProtocolLimits.MaxMessage, size));
            _memory?.Charge(larger.Length - _buffer.Length);
            _buffer.AsSpan(0, Length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        return _buffer.AsMemory(Length, length);
    }

    /// <summary>Adds <paramref name="length"/> bytes written into <see cref="AppendSpace"/> to the payload.</summary>
    internal void Advance(int length) => Length += length;

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _memory?.Release(buffer.Length);
        }
    }
}
