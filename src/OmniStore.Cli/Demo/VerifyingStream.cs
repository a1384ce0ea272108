using OmniStore.Content;

namespace OmniStore.Cli.Demo;

/// <summary>
/// A write-only stream that checks what is written against the expected bytes, byte for byte, and
/// hashes it (XXH3-128) as it goes, so a Get can be verified without a second copy in memory.
/// </summary>
internal sealed class VerifyingStream(ReadOnlyMemory<byte> expected) : Stream
{
    private readonly XxHash3Hasher _hasher = new();
    private long _written;

    /// <summary>Offset of the first byte that differed from the expected, or null if none did.</summary>
    public long? FirstMismatch { get; private set; }

    /// <summary>Bytes written so far.</summary>
    public long BytesWritten => _written;

    /// <summary>XXH3-128 of everything written.</summary>
    public UInt128 Hash => _hasher.GetCurrentHash128();

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _hasher.Append(buffer);
        if (FirstMismatch is null)
        {
            long remaining = Math.Max(0, expected.Length - _written);
            var against = expected.Span.Slice((int)Math.Min(_written, expected.Length), (int)Math.Min(remaining, buffer.Length));
            int common = buffer.CommonPrefixLength(against);
            if (common < buffer.Length)
            {
                FirstMismatch = _written + common;
            }
        }

        _written += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
