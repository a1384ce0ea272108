using System.Buffers;
using System.IO.Pipelines;

namespace OmniStore.Transport.Tls;

/// <summary>
/// A connection's pipes as the one <see cref="Stream"/> <see cref="System.Net.Security.SslStream"/>
/// runs over: a read takes what the input pipe holds; a write goes into the output pipe and leaves
/// at the next flush: the write pump's after each batch, or every <see cref="FlushEvery"/> bytes
/// (a flush per 16 KiB record cost a third of the throughput). Writes are serialized: SslStream
/// writes from its read path too (TLS 1.3's post-handshake messages, a KeyUpdate's answer) while
/// the write pump writes, and a PipeWriter takes one writer at a time; what the read path wrote is
/// flushed before the next read, so it never waits for application data to carry it. That flush
/// never makes a read wait: it starts only when the write lock is free and finishes on its own, and
/// when the lock is held the read leaves a request that the holder carries out as it releases it. A read that waited for the lock held by a writer that waited for the peer to read (which
/// was waiting the same way) hung both ends of an echo.
/// </summary>
internal sealed class DuplexPipeStream(IDuplexPipe pipe) : Stream
{
    /// <summary>Bytes written without a flush, at most.</summary>
    public const int FlushEvery = 256 * 1024;

    private readonly SemaphoreSlim _writing = new(1, 1);
    private int _unflushed;

    // Set by a read that found the write lock held: whoever releases it next flushes, so bytes a
    // writer left unflushed (a write that ends below FlushEvery) do not wait for the next batch.
    private int _flushWanted;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _unflushed) > 0)
        {
            FlushInBackground();
        }

        while (true)
        {
            var result = await pipe.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var available = result.Buffer;
            if (!available.IsEmpty)
            {
                int count = (int)Math.Min(available.Length, buffer.Length);
                var taken = available.Slice(0, count);
                taken.CopyTo(buffer.Span);
                pipe.Input.AdvanceTo(taken.End);
                return count;
            }

            pipe.Input.AdvanceTo(available.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return 0;
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            pipe.Output.Write(buffer.Span);
            _unflushed += buffer.Length;
            if (_unflushed >= FlushEvery)
            {
                await FlushLockedAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ReleaseWriting();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await FlushLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ReleaseWriting();
        }
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    private async ValueTask FlushLockedAsync(CancellationToken cancellationToken)
    {
        if (_unflushed == 0)
        {
            return;
        }

        Volatile.Write(ref _unflushed, 0);
        var result = await pipe.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted)
        {
            throw new IOException("The connection under TLS is closed.");
        }
    }

    /// <summary>Flushes what is written if the write lock is free, without waiting for the peer to take it.</summary>
    private void FlushInBackground()
    {
        if (!_writing.Wait(0))
        {
            // Its holder flushes on release; asked again here in case it released in between.
            Volatile.Write(ref _flushWanted, 1);
            if (!_writing.Wait(0))
            {
                return;
            }
        }

        Volatile.Write(ref _flushWanted, 0);

        ValueTask<FlushResult> flushing;
        try
        {
            Volatile.Write(ref _unflushed, 0);
            flushing = pipe.Output.FlushAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
            _writing.Release();
            return; // the connection is closing: the next write or read says so
        }

        if (flushing.IsCompleted)
        {
            ReleaseWriting();
            return;
        }

        _ = ReleaseWhenFlushedAsync(flushing);
    }

    private async Task ReleaseWhenFlushedAsync(ValueTask<FlushResult> flushing)
    {
        try
        {
            await flushing.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or OperationCanceledException)
        {
            // the connection is closing: the next write or read says so
        }
        finally
        {
            try
            {
                ReleaseWriting();
            }
            catch (ObjectDisposedException)
            {
                // the stream was disposed while the flush waited
            }
        }
    }

    /// <summary>Releases the write lock, and flushes in the background when a read asked for it while the lock was held.</summary>
    private void ReleaseWriting()
    {
        _writing.Release();
        if (Volatile.Read(ref _flushWanted) == 1 && Volatile.Read(ref _unflushed) > 0)
        {
            FlushInBackground();
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _writing.Dispose();
        }

        base.Dispose(disposing);
    }
}
