namespace OmniStore.Content;

/// <summary>
/// Fixed-size chunking: how an object of a given length splits into chunks. Every chunk has
/// <see cref="ChunkSize"/> bytes except the last, which holds the rest; an empty object has no chunks.
/// </summary>
internal readonly record struct ChunkLayout
{
    /// <summary>The smallest chunk size a store accepts: 64 KiB.</summary>
    public const int MinChunkSize = 64 * 1024;

    /// <summary>The largest chunk size a store accepts: 16 MiB.</summary>
    public const int MaxChunkSize = 16 * 1024 * 1024;

    /// <summary>The chunk size used when none is configured: 1 MiB.</summary>
    public const int DefaultChunkSize = 1024 * 1024;

    /// <summary>The most chunks one object may have; it bounds a manifest to 16 MiB.</summary>
    public const int MaxChunkCount = 1 << 20;

    /// <summary>Describes an object of <paramref name="length"/> bytes split into chunks of <paramref name="chunkSize"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The chunk size is outside 64 KiB..16 MiB, or the object would need more than <see cref="MaxChunkCount"/> chunks.</exception>
    public ChunkLayout(long length, int chunkSize)
    {
        ValidateChunkSize(chunkSize);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long count = (length + chunkSize - 1) / chunkSize;
        if (count > MaxChunkCount)
        {
            throw new ArgumentOutOfRangeException(
                nameof(length),
                $"An object of {length} bytes needs {count} chunks of {chunkSize} bytes; at most {MaxChunkCount} are allowed. Use a larger chunk size.");
        }

        Length = length;
        ChunkSize = chunkSize;
        ChunkCount = (int)count;
    }

    /// <summary>The object's length in bytes.</summary>
    public long Length { get; }

    /// <summary>The size of every chunk but the last.</summary>
    public int ChunkSize { get; }

    /// <summary>How many chunks the object has.</summary>
    public int ChunkCount { get; }

    /// <summary>The largest object length that <paramref name="chunkSize"/> allows.</summary>
    public static long MaxLength(int chunkSize) => (long)chunkSize * MaxChunkCount;

    /// <summary>Offset of chunk <paramref name="index"/> in the object.</summary>
    public long OffsetOf(int index) => (long)index * ChunkSize;

    /// <summary>Length of chunk <paramref name="index"/>.</summary>
    public int LengthOf(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, ChunkCount);
        return (int)Math.Min(ChunkSize, Length - OffsetOf(index));
    }

    /// <summary>Throws unless <paramref name="chunkSize"/> is within 64 KiB..16 MiB.</summary>
    public static void ValidateChunkSize(int chunkSize, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(chunkSize))] string? argumentName = null)
    {
        if (chunkSize is < MinChunkSize or > MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(argumentName, chunkSize, $"The chunk size must be between {MinChunkSize} and {MaxChunkSize} bytes.");
        }
    }
}
