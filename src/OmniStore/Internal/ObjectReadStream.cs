using System.Buffers;
using OmniStore.Node;

namespace OmniStore.Internal;

/// <summary>
/// A read-only, seekable stream over one version of an object (<see cref="OmniStoreClient.OpenReadAsync"/>):
/// each chunk is read when a read reaches it, checked against its id, and while reads go forward
/// the next few chunks are read ahead. A seek elsewhere drops the read-ahead. Holds at most
/// <c>1 + readAhead</c> chunk buffers. Not safe for concurrent use, as streams generally are not.
/// </summary>
internal sealed class ObjectReadStream : Stream
{
    private readonly IObjectService _service;
    private readonly OpenedObject _opened;
    private readonly int _readAhead;
    private readonly Queue<(int Index, Task<byte[]> Read)> _ahead = new();
    private CancellationTokenSource _aheadCancel = new();
    private long _position;
    private int _currentIndex = -1;
    private byte[]? _current;
    private int _disposed;

    public ObjectReadStream(IObjectService service, OpenedObject opened, int readAhead)
    {
        _service = service;
        _opened = opened;
        _readAhead = readAhead;
    }

    /// <summary>The binding this stream reads (the version it was opened at).</summary>
    public ObjectInfo Info => _opened.Info;

    public override bool CanRead => _disposed == 0;

    public override bool CanSeek => _disposed == 0;

    public override bool CanWrite => false;

    public override long Length
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            return _opened.Manifest.Length;
        }
    }

    public override long Position
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            return _position;
        }
        set
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Position + offset,
            SeekOrigin.End => Length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException($"Cannot seek to {target}: before the start of '{_opened.Name}'.");
        }

        Position = target;
        return target;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

    public override int Read(Span<byte> buffer)
    {
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int read = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>Reads from the current position up to the end of the chunk it falls in, at most <paramref name="buffer"/>'s length.</summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var layout = _opened.Manifest.Layout;
        if (buffer.IsEmpty || _position >= layout.Length)
        {
            return 0;
        }

        int index = (int)(_position / layout.ChunkSize);
        if (index != _currentIndex)
        {
            await LoadAsync(index, cancellationToken).ConfigureAwait(false);
        }

        int within = (int)(_position - layout.OffsetOf(index));
        int count = Math.Min(buffer.Length, layout.LengthOf(index) - within);
        _current!.AsSpan(within, count).CopyTo(buffer.Span);
        _position += count;
        return count;
    }

    /// <summary>Makes chunk <paramref name="index"/> the current one: from the read-ahead when it is next there, else read now.</summary>
    private async ValueTask LoadAsync(int index, CancellationToken cancellationToken)
    {
        bool forward = index == _currentIndex + 1;
        if (_ahead.TryPeek(out var next) && next.Index == index)
        {
            _ahead.Dequeue();
            Release(await next.Read.WaitAsync(cancellationToken).ConfigureAwait(false));
        }
        else
        {
            await DropReadAheadAsync().ConfigureAwait(false);
            Release(await ReadChunkAsync(index, cancellationToken).ConfigureAwait(false));
        }

        _currentIndex = index;
        if (forward || index == 0)
        {
            // Reads are going forward: keep the next chunks coming while this one is consumed.
            int chunkCount = _opened.Manifest.Layout.ChunkCount;
            int from = _ahead.Count == 0 ? index + 1 : _ahead.Last().Index + 1;
            for (int ahead = from; ahead < chunkCount && ahead <= index + _readAhead; ahead++)
            {
                _ahead.Enqueue((ahead, ReadChunkAsync(ahead, _aheadCancel.Token)));
            }
        }
    }

    private void Release(byte[] chunk)
    {
        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
        }

        _current = chunk;
    }

    private async Task<byte[]> ReadChunkAsync(int index, CancellationToken cancellationToken)
    {
        int length = _opened.Manifest.Layout.LengthOf(index);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            await _service.ReadChunkAsync(_opened, index, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            return buffer;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>Cancels the chunks read ahead and gives their buffers back once each read has stopped.</summary>
    private async ValueTask DropReadAheadAsync()
    {
        if (_ahead.Count == 0)
        {
            return;
        }

        await _aheadCancel.CancelAsync().ConfigureAwait(false);
        while (_ahead.TryDequeue(out var pending))
        {
            try
            {
                ArrayPool<byte>.Shared.Return(await pending.Read.ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
            {
                // A read ahead that failed is of no one's concern: nobody asked for it yet.
            }
        }

        _aheadCancel.Dispose();
        _aheadCancel = new CancellationTokenSource();
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException($"'{_opened.Name}' is read-only: a Put replaces an object.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException($"'{_opened.Name}' is read-only: a Put replaces an object.");

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await DropReadAheadAsync().ConfigureAwait(false);
        _aheadCancel.Dispose();
        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
            _current = null;
        }

        _opened.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }
}
