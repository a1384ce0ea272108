using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OmniStore.Content;
using OmniStore.Storage;
using OmniStore.Transport;
using OmniStore.Transport.Internal;

namespace OmniStore;

/// <summary>Settings of an <see cref="OmniStoreClient"/>. Validated once, when the client is created.</summary>
public sealed record OmniStoreOptions
{
    /// <summary>
    /// The directory of the embedded store. Defaults to <c>$OMNISTORE_DATA</c> if set, else
    /// <c>omnistore</c> under the user's local application data folder.
    /// </summary>
    public string DataDirectory { get; init; } = DefaultDataDirectory;

    /// <summary>The size objects are split into chunks of, 64 KiB..16 MiB. Defaults to 1 MiB.</summary>
    public int ChunkSize { get; init; } = ChunkLayout.DefaultChunkSize;

    /// <summary>
    /// What the embedded store does when full: <see cref="StoreMode.Pinned"/> refuses new data,
    /// <see cref="StoreMode.Cache"/> evicts cold chunks (and so may lose objects). Defaults to
    /// <see cref="StoreMode.Pinned"/>.
    /// </summary>
    public StoreMode StoreMode { get; init; } = StoreMode.Pinned;

    /// <summary>
    /// Bytes the embedded store may hold on disk; 0 means no limit (a pinned store then grows until
    /// the disk is full). Required for <see cref="StoreMode.Cache"/>. Defaults to 0.
    /// </summary>
    public long Capacity { get; init; }

    /// <summary>
    /// Addresses to move to, in order, when the node a connected client talks to becomes
    /// unavailable (for example the root after the site relay); each entry may itself be a
    /// comma-separated list (see <see cref="PeerAddress.ParseList"/>). Defaults to none.
    /// </summary>
    public IReadOnlyList<string> FallbackUris { get; init; } = [];

    /// <summary>
    /// The secret shared by the nodes of a tree; the handshake proves both sides know it without
    /// sending it: at least 16 bytes (<c>omnistore secret new</c> writes 32 random ones). Null when the tree uses none. Defaults to null.
    /// </summary>
    public byte[]? SharedSecret { get; init; }

    /// <summary>
    /// The client's certificate, key and tree CA, for <c>tls+tcp://</c> and <c>tls+rudp://</c>
    /// addresses (docs/tls.md); the certificate's rights are what the tree lets the client do.
    /// Null when the client reaches plain addresses only. Defaults to null.
    /// </summary>
    public TlsOptions? Tls { get; init; }

    /// <summary>
    /// The rendezvous (<c>rudp://HOST:PORT</c>) that finds nodes behind NAT, named <c>rudp://NAME</c>
    /// (a relay or root registered with <c>--node-id NAME</c>; docs/nat.md). Null when the client
    /// reaches nodes by their addresses only. Defaults to null.
    /// </summary>
    public string? Rendezvous { get; init; }

    /// <summary>
    /// Chunk requests a connected client keeps in flight per Get or Put: enough to fill a long fat
    /// link (16 MiB at the default chunk size). Higher values use more memory per transfer.
    /// Defaults to 16.
    /// </summary>
    public int TransferWindow { get; init; } = DefaultTransferWindow;

    /// <summary>The default of <see cref="TransferWindow"/>.</summary>
    public const int DefaultTransferWindow = 16;

    /// <summary>The largest <see cref="TransferWindow"/>.</summary>
    public const int MaxTransferWindow = 128;

    /// <summary>
    /// How often a connected client that moved away from the first of its addresses (after a failure)
    /// tries the addresses before the one it uses, to move back to the first that answers (raising
    /// <see cref="OmniStoreClient.Restored"/>): one handshake per address and interval, nothing while
    /// the client is on its first address. <see cref="Timeout.InfiniteTimeSpan"/> keeps a client where it
    /// moved. Defaults to 10 seconds.
    /// </summary>
    public TimeSpan FailbackInterval { get; init; } = DefaultFailbackInterval;

    /// <summary>The default of <see cref="FailbackInterval"/>.</summary>
    public static readonly TimeSpan DefaultFailbackInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Where a connected client logs: each move to another address (which one failed, why, and which
    /// is tried next) and back (category <c>OmniStore.OmniStoreClient</c>, event ids 5000-5099).
    /// Spans and metrics go through <c>System.Diagnostics</c> instead (<see cref="OmniStoreDiagnostics"/>;
    /// docs/observability.md). Defaults to none.
    /// </summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>
    /// The default for <see cref="DataDirectory"/>. Working it out creates nothing: the store creates
    /// its directory when it opens, so a HOME that cannot be written fails only what needs it there.
    /// </summary>
    public static string DefaultDataDirectory => FindDefaultDataDirectory() ?? "omnistore";

    /// <summary>
    /// <c>$OMNISTORE_DATA</c> if set, else <c>omnistore</c> in the user's local application data
    /// folder; null when the user has no such folder (no home directory).
    /// </summary>
    internal static string? FindDefaultDataDirectory()
    {
        if (Environment.GetEnvironmentVariable("OMNISTORE_DATA") is { Length: > 0 } fromEnvironment)
        {
            return fromEnvironment;
        }

        string folder = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        return folder.Length > 0 ? Path.Combine(folder, "omnistore") : null;
    }

    /// <summary>Throws if a setting is out of range, naming it.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range; the message names it.</exception>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidArgument"/> if an entry of <see cref="FallbackUris"/> is not an address list, as for every bad address.</exception>
    public void Validate(string argumentName = "options")
    {
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException($"{nameof(DataDirectory)} is required.", argumentName);
        }

        if (Rendezvous is not null && (!NodeAddress.TryParse(Rendezvous, out var rendezvous, out string? rendezvousError) || !Nat.NatOptions.IsRendezvousAddress(rendezvous)))
        {
            throw new ArgumentException($"{nameof(Rendezvous)}: a rendezvous is a rudp://HOST:PORT (or tls+rudp://HOST:PORT) address; {Internal.UntrustedText.Escape(rendezvousError ?? $"'{Rendezvous}' is not one", 200)}.", argumentName);
        }

        if (ChunkSize is < ChunkLayout.MinChunkSize or > ChunkLayout.MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(argumentName, ChunkSize, $"{nameof(ChunkSize)} must be between {ChunkLayout.MinChunkSize} and {ChunkLayout.MaxChunkSize} bytes.");
        }

        if (Capacity < 0)
        {
            throw new ArgumentOutOfRangeException(argumentName, Capacity, $"{nameof(Capacity)} must not be negative (0 means no limit).");
        }

        if (TransferWindow is < 1 or > MaxTransferWindow)
        {
            throw new ArgumentOutOfRangeException(argumentName, TransferWindow, $"{nameof(TransferWindow)} must be at least 1 and at most {MaxTransferWindow}.");
        }

        if (FallbackUris is null)
        {
            throw new ArgumentNullException(argumentName, $"{nameof(FallbackUris)} must not be null (an empty list means no fallback).");
        }

        if (FailbackInterval <= TimeSpan.Zero && FailbackInterval != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(argumentName, FailbackInterval, $"{nameof(FailbackInterval)} must be positive, or Timeout.InfiniteTimeSpan to stay on the address moved to.");
        }

        if (LoggerFactory is null)
        {
            throw new ArgumentNullException(argumentName, $"{nameof(LoggerFactory)} must not be null (NullLoggerFactory.Instance logs nothing).");
        }

        if (SharedSecret is not null && Internal.SecretFile.Problem(SharedSecret, nameof(SharedSecret)) is { } secretProblem)
        {
            throw new ArgumentException($"{secretProblem}; use null for no shared secret.", argumentName);
        }

        if (FallbackUris.Count > 0 && AddressGrammar.TryParseList(FallbackSources(), AddressSchemes.Default, out _) is { } error)
        {
            throw AddressGrammar.InvalidArgument(error);
        }

        ToStoreOptions().Validate(argumentName);
    }

    /// <summary>The entries of <see cref="FallbackUris"/>, each labelled for messages.</summary>
    internal IEnumerable<(string? Label, string? Text)> FallbackSources() =>
        FallbackUris.Select((text, i) => ((string?)$"{nameof(FallbackUris)}[{i}]", (string?)text));

    /// <summary>
    /// The largest chunk a new embedded store is made for, unless <see cref="ChunkSize"/> asks for
    /// more: 4 MiB, so its log pages are 8 MiB. FASTER allocates and clears two pages of each log
    /// when a store opens, so pages sized for the protocol's 16 MiB chunks (32 MiB) cost a short
    /// command such as <c>omnistore get</c> 64 MiB of memory and most of its time.
    /// </summary>
    internal const int EmbeddedMaxChunkSize = 4 * 1024 * 1024;

    internal ContentStoreOptions ToStoreOptions() => new()
    {
        Directory = DataDirectory,
        Mode = StoreMode,
        Capacity = Capacity,
        MaxChunkSize = Math.Max(ChunkSize, EmbeddedMaxChunkSize),
    };
}
