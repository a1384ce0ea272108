using OmniStore.Storage;

namespace OmniStore;

/// <summary>
/// What <c>services.AddOmniStore(configuration.GetSection("OmniStore"))</c> binds: where the client
/// connects and the options it runs with. Every property may be left out; validated once, when the
/// application starts (<c>ValidateOnStart</c>), naming the key that is wrong.
/// </summary>
/// <example>
/// <code language="json">
/// "OmniStore": {
///   "ConnectionString": "tcp://relay-a:7070,tcp://root:7070;secretFile=/etc/omnistore/secret;window=32",
///   "ChunkSize": 1048576
/// }
/// </code>
/// </example>
public sealed class OmniStoreClientSettings
{
    /// <summary>
    /// The node to connect to: addresses, then settings each after a <c>;</c> (docs/api.md,
    /// "Connection strings"). Empty or unset: the embedded store in <see cref="DataDirectory"/>.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>The embedded store's directory (only without a <see cref="ConnectionString"/>). Defaults to <see cref="OmniStoreOptions.DefaultDataDirectory"/>.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>The chunk size new objects are split into. Defaults to <see cref="OmniStoreOptions.ChunkSize"/>'s default, 1 MiB.</summary>
    public int? ChunkSize { get; set; }

    /// <summary>Chunk requests kept in flight by one Get. Defaults to <see cref="OmniStoreOptions.DefaultTransferWindow"/>.</summary>
    public int? TransferWindow { get; set; }

    /// <summary>The embedded store's capacity in bytes (0: the store's default). Defaults to 0.</summary>
    public long? Capacity { get; set; }

    /// <summary>The embedded store's mode. Defaults to <see cref="StoreMode.Pinned"/>.</summary>
    public StoreMode? StoreMode { get; set; }

    /// <summary>The options these settings stand for, the application's logging attached.</summary>
    internal OmniStoreOptions ToOptions(Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory)
    {
        var defaults = new OmniStoreOptions();
        return defaults with
        {
            DataDirectory = DataDirectory ?? defaults.DataDirectory,
            ChunkSize = ChunkSize ?? defaults.ChunkSize,
            TransferWindow = TransferWindow ?? defaults.TransferWindow,
            Capacity = Capacity ?? defaults.Capacity,
            StoreMode = StoreMode ?? defaults.StoreMode,
            LoggerFactory = loggerFactory ?? defaults.LoggerFactory,
        };
    }
}
