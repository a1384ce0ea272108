using System.Buffers;
using OmniStore.Node;

namespace OmniStore.Internal;

/// <summary>
/// Reads a byte range of an opened object: only the chunks that cover the range are read (and, from
/// a node, only they cross the network), up to a window of them at once, each checked against its id.
/// A chunk inside the range is read straight into the caller's memory; the two at the range's ends,
/// when cut by it, into a rented buffer first.
/// </summary>
internal static class ObjectRanges
{
    /// <summary>Reads from <paramref name="offset"/> into <paramref name="destination"/>; returns the bytes read (fewer at the object's end, 0 at or past it).</summary>
    public static async ValueTask<int> ReadAsync(IObjectService service, OpenedObject opened, long offset, Memory<byte> destination, int window, CancellationToken cancellationToken)
    {
        var layout = opened.Manifest.Layout;
        if (offset >= layout.Length || destination.IsEmpty)
        {
            return 0;
        }

        int count = (int)Math.Min(destination.Length, layout.Length - offset);
        int first = (int)(offset / layout.ChunkSize);
        int last = (int)((offset + count - 1) / layout.ChunkSize);
        var inFlight = new Queue<Task>();
        try
        {
            for (int index = first; index <= last; index++)
            {
                if (inFlight.Count == window)
                {
                    await inFlight.Dequeue().ConfigureAwait(false);
                }

                inFlight.Enqueue(ReadPieceAsync(service, opened, index, offset, destination[..count], cancellationToken));
            }

            while (inFlight.TryDequeue(out var pending))
            {
                await pending.ConfigureAwait(false);
            }
        }
        finally
        {
            // On a failure, the reads still running must not write into the caller's memory later.
            while (inFlight.TryDequeue(out var pending))
            {
                try
                {
                    await pending.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
                {
                }
            }
        }

        return count;
    }

    /// <summary>Reads chunk <paramref name="index"/> and copies the part of it that falls in the range into its place in <paramref name="range"/>.</summary>
    private static async Task ReadPieceAsync(IObjectService service, OpenedObject opened, int index, long rangeStart, Memory<byte> range, CancellationToken cancellationToken)
    {
        var layout = opened.Manifest.Layout;
        long chunkStart = layout.OffsetOf(index);
        int length = layout.LengthOf(index);
        long from = Math.Max(chunkStart, rangeStart);
        long to = Math.Min(chunkStart + length, rangeStart + range.Length);
        var target = range.Slice((int)(from - rangeStart), (int)(to - from));
        if (from == chunkStart && to == chunkStart + length)
        {
            await service.ReadChunkAsync(opened, index, target, cancellationToken).ConfigureAwait(false);
            return;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await service.ReadChunkAsync(opened, index, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            buffer.AsSpan((int)(from - chunkStart), target.Length).CopyTo(target.Span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
