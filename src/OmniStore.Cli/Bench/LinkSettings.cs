using OmniStore.Transport;

namespace OmniStore.Cli.Bench;

/// <summary>
/// What <c>omnistore bench link</c> runs: a server on <see cref="Listen"/> that reads and discards,
/// or a client that connects <see cref="Parallel"/> times to <see cref="Connect"/> and sends as fast
/// as it can for <see cref="Duration"/> (or <see cref="Bytes"/> per connection).
/// </summary>
internal sealed record LinkSettings
{
    public const int MaxParallel = 64;
    public const int DefaultSeconds = 10;
    public const long MaxBytes = 1L << 40;

    public static readonly TimeSpan MaxDuration = SmallObjectSettings.MaxDuration;

    /// <summary>Where the server listens (server mode), or null.</summary>
    public NodeAddress? Listen { get; init; }

    /// <summary>Where the client connects (client mode), or null.</summary>
    public NodeAddress? Connect { get; init; }

    /// <summary>How long the client sends, when <see cref="Bytes"/> is not given.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(DefaultSeconds);

    /// <summary>Bytes every connection sends, instead of sending for <see cref="Duration"/>.</summary>
    public long? Bytes { get; init; }

    /// <summary>Connections at once, each sending its own stream.</summary>
    public int Parallel { get; init; } = 1;

    /// <summary>The server exits once the first client's connections have all ended.</summary>
    public bool Once { get; init; }

    public bool Json { get; init; }

    /// <summary>Bytes handed to the transport per write.</summary>
    public int WriteSize { get; init; } = 128 * 1024;

    /// <summary>Throws <see cref="UsageException"/> naming the option that is wrong.</summary>
    public void Validate()
    {
        if ((Listen is null) == (Connect is null))
        {
            throw new UsageException("bench link needs exactly one of --listen (the server) and --connect (the client).");
        }

        if (Parallel is < 1 or > MaxParallel)
        {
            throw new UsageException($"--parallel must be between 1 and {MaxParallel}, not {Parallel}.");
        }

        if (Duration <= TimeSpan.Zero || Duration > MaxDuration)
        {
            throw new UsageException($"--seconds must be more than 0 and at most {MaxDuration.TotalSeconds:0}.");
        }

        if (Bytes is < 1 or > MaxBytes)
        {
            throw new UsageException($"--bytes must be between 1 and {ByteSize.Format(MaxBytes)}.");
        }

        if (Connect is { Port: 0 })
        {
            throw new UsageException("--connect needs a port: SCHEME://HOST:PORT.");
        }
    }
}
