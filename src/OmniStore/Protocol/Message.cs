using System.Buffers;

namespace OmniStore.Protocol;

/// <summary>
/// A whole received message: its type and payload in a buffer rented from the shared pool. The
/// receiver owns it and must dispose it exactly once; the payload is invalid afterwards.
/// </summary>
internal sealed class Message : IDisposable
{
    private byte[]? _buffer;

    public Message(FrameType type, uint stream, byte[] buffer, int length)
    {
        Type = type;
        Stream = stream;
        _buffer = buffer;
        Length = length;
    }

    public FrameType Type { get; }

    public uint Stream { get; }

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Payload => (_buffer ?? throw new ObjectDisposedException(nameof(Message))).AsSpan(0, Length);

    public ReadOnlyMemory<byte> PayloadMemory => (_buffer ?? throw new ObjectDisposedException(nameof(Message))).AsMemory(0, Length);

    internal byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(Message));

    internal void Append(ReadOnlySequence<byte> payload)
    {
        payload.CopyTo(AppendSpace((int)payload.Length).Span);
        Advance((int)payload.Length);
    }

    /// <summary>
    /// The next <paramref name="length"/> bytes after the payload, grown into if need be, for a
    /// receiver to fill; <see cref="Advance"/> then adds them to the payload.
    /// </summary>
    internal Memory<byte> AppendSpace(int length)
    {
        if (Length + (long)length > _buffer!.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(ProtocolLimits.MaxMessage, Math.Max(Length + (long)length, 2L * _buffer.Length)));
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
        }
    }
}
