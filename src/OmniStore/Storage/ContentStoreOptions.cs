using OmniStore.Content;

namespace OmniStore.Storage;

/// <summary>Settings of a <see cref="ContentStore"/>; validated once by <see cref="Validate"/>.</summary>
internal sealed record ContentStoreOptions
{
    /// <summary>The directory that holds the store. Required.</summary>
    public required string Directory { get; init; }

    /// <summary>What happens when the store is full. Defaults to <see cref="StoreMode.Pinned"/>.</summary>
    public StoreMode Mode { get; init; } = StoreMode.Pinned;

    /// <summary>Bytes of log the store may hold on disk; 0 means no limit. Defaults to 0.</summary>
    public long Capacity { get; init; }

    /// <summary>
    /// The largest chunk a new store must accept, which sizes its log pages (twice this, at least
    /// 1 MiB). An existing store keeps the size it was made with, whatever this says. Defaults to 16 MiB.
    /// </summary>
    public int MaxChunkSize { get; init; } = ChunkLayout.MaxChunkSize;

    /// <summary>
    /// Memory for the in-memory part of the chunk log: 0 for the default of four log pages, or a
    /// size, raised to the minimum of two pages (<see cref="MinimalLogMemory"/> asks for exactly that).
    /// </summary>
    public long LogMemory { get; init; }

    /// <summary>A <see cref="LogMemory"/> that asks for the smallest log memory FASTER accepts: two pages.</summary>
    public const long MinimalLogMemory = 1;

    /// <summary>The default of <see cref="CheckpointInterval"/>.</summary>
    public static readonly TimeSpan DefaultCheckpointInterval = TimeSpan.FromSeconds(30);

    /// <summary>The default of <see cref="CheckpointBytes"/>.</summary>
    public const long DefaultCheckpointBytes = 256L << 20;

    /// <summary>
    /// A <see cref="StoreMode.Cache"/> store checkpoints in the background once this long has passed
    /// since its last commit began and something was written since, so a process killed without
    /// warning (SIGKILL, out of memory) loses at most the cache's last interval of writes.
    /// <see cref="TimeSpan.Zero"/>: none by time. A pinned store takes no background checkpoints: it
    /// commits every Put and Delete before acknowledging them. Defaults to 30 s.
    /// </summary>
    public TimeSpan CheckpointInterval { get; init; } = DefaultCheckpointInterval;

    /// <summary>
    /// A <see cref="StoreMode.Cache"/> store also checkpoints in the background once this many bytes
    /// of log were written since its last commit began, so a fast fill loses at most this much to a
    /// crash. 0: none by bytes. Defaults to <see cref="DefaultCheckpointBytes"/> (256 MiB).
    /// </summary>
    public long CheckpointBytes { get; init; } = DefaultCheckpointBytes;

    /// <summary>The longest <see cref="CheckpointInterval"/>: beyond it a timer's wait is out of range, and a crash would lose weeks.</summary>
    public static readonly TimeSpan MaxCheckpointInterval = TimeSpan.FromDays(7);

    /// <summary>
    /// The share of a pinned store's chunk log that objects removed or replaced since the last
    /// reclamation pass may reach before a pass starts in the background (never below two log pages);
    /// 0 turns background passes off (a pass then runs when the capacity is reached, or when asked).
    /// Defaults to 0.25.
    /// </summary>
    public double ReclaimFraction { get; init; } = 0.25;

    /// <summary>The default of <see cref="JournalLimit"/>: 1 MiB.</summary>
    public const long DefaultJournalLimit = 1 << 20;

    /// <summary>
    /// A pinned store makes a Put of an object up to this size, and every Delete, durable through its
    /// journal (one record and one <c>fdatasync</c> shared with the writes made meanwhile) instead of
    /// a commit of both tables; larger objects are committed. 0 turns the journal off. See
    /// docs/storage.md, "The journal".
    /// </summary>
    public long JournalLimit { get; init; } = DefaultJournalLimit;

    /// <summary>The default of <see cref="ChangeHistory"/>.</summary>
    public const int DefaultChangeHistory = 65536;

    /// <summary>
    /// How many of its last changes a pinned store (the root's) keeps, numbered, for watchers that
    /// resume (docs/watch.md, "History"); a watcher further behind is reset. 0 numbers no change
    /// (nothing can be watched). About 60 bytes and the name per change. Defaults to 65,536.
    /// </summary>
    public int ChangeHistory { get; init; } = DefaultChangeHistory;

    internal int DataPageSizeBits => Math.Max(20, BitLength((2L * MaxChunkSize) - 1));

    public void Validate(string argumentName = "options")
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            throw new ArgumentException("A store directory is required.", argumentName);
        }

        if (MaxChunkSize is < ChunkLayout.MinChunkSize or > ChunkLayout.MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(argumentName, MaxChunkSize, $"{nameof(MaxChunkSize)} must be between {ChunkLayout.MinChunkSize} and {ChunkLayout.MaxChunkSize}.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(Capacity, argumentName);
        if (CheckpointInterval < TimeSpan.Zero || CheckpointInterval > MaxCheckpointInterval)
        {
            throw new ArgumentOutOfRangeException(argumentName, CheckpointInterval, $"{nameof(CheckpointInterval)} must be between 0 (none by time) and {MaxCheckpointInterval.TotalDays} days.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(CheckpointBytes, argumentName);

        if (JournalLimit is < 0 or > ChunkLayout.MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(argumentName, JournalLimit, $"{nameof(JournalLimit)} must be between 0 and {ChunkLayout.MaxChunkSize} bytes.");
        }

        if (ChangeHistory is < 0 or > 1 << 24)
        {
            throw new ArgumentOutOfRangeException(argumentName, ChangeHistory, $"{nameof(ChangeHistory)} must be between 0 and {1 << 24}.");
        }

        if (ReclaimFraction is < 0 or > 1 || double.IsNaN(ReclaimFraction))
        {
            throw new ArgumentOutOfRangeException(argumentName, ReclaimFraction, $"{nameof(ReclaimFraction)} must be between 0 and 1.");
        }

        if (Mode == StoreMode.Cache && Capacity == 0)
        {
            throw new ArgumentException($"A {StoreMode.Cache} store needs a {nameof(Capacity)}.", argumentName);
        }

        if (Capacity != 0 && Capacity < 4L << DataPageSizeBits)
        {
            throw new ArgumentOutOfRangeException(argumentName, Capacity, $"{nameof(Capacity)} must be at least {4L << DataPageSizeBits} bytes (four log pages) for chunks of up to {MaxChunkSize} bytes.");
        }
    }

    private static int BitLength(long value) => 64 - (int)ulong.LeadingZeroCount((ulong)value);
}
