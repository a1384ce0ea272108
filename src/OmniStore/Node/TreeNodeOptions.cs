using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Protocol;
using OmniStore.Storage;
using OmniStore.Transport;

namespace OmniStore.Node;

/// <summary>Settings of a root or relay node. Without <see cref="Parent"/> the node is the root.</summary>
internal sealed record TreeNodeOptions
{
    /// <summary>Where to listen. Required; port 0 picks a free port (see <see cref="TreeNode.Address"/>).</summary>
    public required NodeAddress Listen { get; init; }

    /// <summary>The parent's address; null for the root.</summary>
    public NodeAddress? Parent { get; init; }

    /// <summary>
    /// The node's site name, reported in handshakes, logs, status and metrics: at most 64 ASCII
    /// letters, digits, '-', '.', '_' and ':' (docs/protocol.md, "Handshake"). Defaults to the host
    /// name, with any other character replaced by '-'.
    /// </summary>
    public string Site { get; init; } = SiteName.FromHostName(Environment.MachineName);

    /// <summary>The store directory. Required.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// A relay's cache size in bytes (required for a relay); a root's capacity (0 = unlimited).
    /// Defaults to 0.
    /// </summary>
    public long CacheSize { get; init; }

    /// <summary>The shared secret peers must prove they know; null for none. Defaults to null.</summary>
    public byte[]? Secret { get; init; }

    /// <summary>Chunk requests a relay keeps in flight toward its parent for one prefetch. Defaults to 16.</summary>
    public int PrefetchWindow { get; init; } = 16;

    /// <summary>The default of <see cref="BindingCacheSize"/>.</summary>
    public const int DefaultBindingCacheSize = 65_536;

    /// <summary>
    /// How many names a relay keeps the binding of in memory (each also stays in its store while the
    /// cache keeps it); others are asked of the parent again. Defaults to <see cref="DefaultBindingCacheSize"/>.
    /// </summary>
    public int BindingCacheSize { get; init; } = DefaultBindingCacheSize;

    /// <summary>The default of <see cref="MaxUpstreamFetchesPerChild"/>.</summary>
    public const int DefaultMaxUpstreamFetchesPerChild = 16;

    /// <summary>
    /// How many requests to the parent (chunk, manifest and name fetches, prefetches' included) the
    /// requests of one child connection may have in flight at a relay; more wait for one to finish.
    /// A relay below counts as one child. Defaults to <see cref="DefaultMaxUpstreamFetchesPerChild"/>.
    /// </summary>
    public int MaxUpstreamFetchesPerChild { get; init; } = DefaultMaxUpstreamFetchesPerChild;

    /// <summary>The default of <see cref="UpstreamMissRate"/>.</summary>
    public const double DefaultUpstreamMissRate = 100;

    /// <summary>
    /// How many misses per second one child connection may cause at a relay on average: requests
    /// the relay had to ask its parent about and the parent answered with an error (mostly ids and
    /// names that do not exist). Beyond it (and <see cref="UpstreamMissBurst"/>) the child's requests
    /// that need the parent fail at once with <see cref="OmniStoreError.Unavailable"/> ("too many
    /// misses") until its allowance refills; other children are not affected, and reads of what
    /// exists cost nothing here. Defaults to <see cref="DefaultUpstreamMissRate"/>.
    /// </summary>
    public double UpstreamMissRate { get; init; } = DefaultUpstreamMissRate;

    /// <summary>The default of <see cref="UpstreamMissBurst"/>.</summary>
    public const int DefaultUpstreamMissBurst = 100;

    /// <summary>
    /// How many misses one child connection may cause at once before <see cref="UpstreamMissRate"/>
    /// applies (the depth of its token bucket). Defaults to <see cref="DefaultUpstreamMissBurst"/>.
    /// </summary>
    public int UpstreamMissBurst { get; init; } = DefaultUpstreamMissBurst;

    /// <summary>
    /// How long a relay remembers that its parent has no such chunk, manifest or name, answering
    /// NotFound itself meanwhile. Every binding update and every chunk or manifest written through
    /// the relay forgets what it remembers, so an object Put anywhere reads back at once;
    /// <see cref="TimeSpan.Zero"/> remembers nothing. Defaults to 5 s.
    /// </summary>
    public TimeSpan MissCacheTime { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The default of <see cref="MissCacheSize"/>.</summary>
    public const int DefaultMissCacheSize = 16_384;

    /// <summary>
    /// How many misses of each kind (chunks, manifests, names) a relay remembers; the oldest is
    /// forgotten first. Defaults to <see cref="DefaultMissCacheSize"/>.
    /// </summary>
    public int MissCacheSize { get; init; } = DefaultMissCacheSize;

    /// <summary>How long the root waits for a subtree to apply a binding update before disconnecting it. Defaults to 10 s.</summary>
    public TimeSpan UpdateTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Logging. Defaults to none.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    internal bool IsRoot => Parent is null;

    internal ContentStoreOptions StoreOptions => new()
    {
        Directory = DataDirectory,
        Mode = IsRoot ? StoreMode.Pinned : StoreMode.Cache,
        Capacity = CacheSize,

        // A relay's memory goes to serving its children; two log pages (64 MiB) are enough for a
        // cache whose reads mostly come from the OS page cache anyway.
        LogMemory = IsRoot ? 0 : ContentStoreOptions.MinimalLogMemory,
    };

    public void Validate(string argumentName = "options")
    {
        ArgumentNullException.ThrowIfNull(Listen, argumentName);
        if (!IsRoot && CacheSize <= 0)
        {
            throw new ArgumentException($"A relay needs a {nameof(CacheSize)}.", argumentName);
        }

        if (string.IsNullOrEmpty(Site))
        {
            throw new ArgumentException($"{nameof(Site)}: a node needs a site name.", argumentName);
        }

        if (!SiteName.IsValid(Site, out string? problem))
        {
            throw new ArgumentException($"{nameof(Site)}: {problem}.", argumentName);
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(PrefetchWindow, 1, argumentName);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUpstreamFetchesPerChild, 1, argumentName);
        ArgumentOutOfRangeException.ThrowIfLessThan(UpstreamMissBurst, 1, argumentName);
        if (!(UpstreamMissRate > 0 && double.IsFinite(UpstreamMissRate)))
        {
            throw new ArgumentOutOfRangeException(argumentName, UpstreamMissRate, $"{nameof(UpstreamMissRate)} must be a positive number of misses per second.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MissCacheTime, TimeSpan.Zero, argumentName);
        ArgumentOutOfRangeException.ThrowIfLessThan(MissCacheSize, 1, argumentName);
        StoreOptions.Validate(argumentName);
    }
}
