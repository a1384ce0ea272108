namespace OmniStore.Cli.Bench;

/// <summary>
/// What <c>omnistore bench small</c> runs: <see cref="Clients"/> connections doing
/// <see cref="Operation"/> back to back on objects of <see cref="Size"/> bytes, until
/// <see cref="Operations"/> are done or <see cref="Duration"/> has passed, whichever comes first.
/// </summary>
internal sealed record SmallObjectSettings
{
    public const int DefaultClients = 16;
    public const int DefaultSize = 4096;
    public const int DefaultOperations = 100_000;
    public const int DefaultKeys = 1000;
    public const int MaxClients = 1024;
    public const int MaxSize = 1 << 20;
    public const int MaxKeys = 1_000_000;

    /// <summary>The most operations of one run: 8 bytes of latency each, kept in memory (80 MB).</summary>
    public const int MaxOperations = 10_000_000;

    /// <summary>The most bytes of prepared objects a Get run keeps in memory to check what it reads.</summary>
    public const long MaxKeyBytes = 1L << 30;

    public static readonly TimeSpan DefaultDuration = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan MaxDuration = TimeSpan.FromHours(1);

    /// <summary>Operations each client runs before the clock starts (compiled code, warm connections).</summary>
    public const int WarmUpOperationsPerClient = 16;

    /// <summary>The node the clients connect to: an address or a comma-separated list, as <c>--relay</c>.</summary>
    public required string Relay { get; init; }

    public byte[]? SharedSecret { get; init; }

    public SmallObjectOperation Operation { get; init; } = SmallObjectOperation.Get;

    /// <summary>Connections, each one client doing one operation at a time. Defaults to 16 (redis-benchmark -c 16).</summary>
    public int Clients { get; init; } = DefaultClients;

    /// <summary>Bytes of every object. Defaults to 4096 (redis-benchmark -d 4096).</summary>
    public int Size { get; init; } = DefaultSize;

    /// <summary>The most operations the run does, over all clients. Defaults to 100,000.</summary>
    public int Operations { get; init; } = DefaultOperations;

    /// <summary>The longest the run lasts; the operations in flight then finish. Defaults to 60 s.</summary>
    public TimeSpan Duration { get; init; } = DefaultDuration;

    /// <summary>Objects a Get run puts first and then reads at random. Defaults to 1000.</summary>
    public int Keys { get; init; } = DefaultKeys;

    /// <summary>Where the run's names start: a fresh prefix per run, so runs never read each other's objects.</summary>
    public string NamePrefix { get; init; } = "bench/small/" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Seeds the objects' bytes and the Get clients' choice of key.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Throws <see cref="UsageException"/> naming the option that is out of range.</summary>
    public void Validate()
    {
        Within(Clients, 1, MaxClients, "--clients");
        Within(Size, 1, MaxSize, "--size");
        Within(Operations, 1, MaxOperations, "--ops");
        if (Duration <= TimeSpan.Zero || Duration > MaxDuration)
        {
            throw new UsageException($"--seconds must be more than 0 and at most {MaxDuration.TotalSeconds:0}.");
        }

        if (Operation == SmallObjectOperation.Get)
        {
            Within(Keys, 1, MaxKeys, "--keys");
            if ((long)Keys * Size > MaxKeyBytes)
            {
                throw new UsageException($"--keys times --size is {(long)Keys * Size} bytes, more than the {MaxKeyBytes} a Get run keeps in memory to check what it reads.");
            }
        }

        if (Operations < Clients)
        {
            throw new UsageException($"--ops ({Operations}) must be at least --clients ({Clients}): every client does at least one operation.");
        }
    }

    /// <summary>The name of prepared object <paramref name="key"/> (Get runs).</summary>
    public string KeyName(int key) => $"{NamePrefix}/key/{key}";

    /// <summary>The name the Put of slot <paramref name="slot"/> writes.</summary>
    public string PutName(int slot) => $"{NamePrefix}/put/{slot}";

    /// <summary>The name of a client's warm-up Put (Put runs): a name of its own, as every measured Put has.</summary>
    public string WarmUpName(int client, int index) => $"{NamePrefix}/warm-up/{client}/{index}";

    private static void Within(int value, int min, int max, string option)
    {
        if (value < min || value > max)
        {
            throw new UsageException($"{option} must be between {min} and {max}, not {value}.");
        }
    }
}
