using System.Buffers.Binary;
using System.Diagnostics;

namespace OmniStore.Cli.Bench;

/// <summary>
/// <c>omnistore bench small</c>: small objects at a key-value store's pace. Like
/// <c>redis-benchmark -c 16 -d 4096</c>, each of N clients has a connection of its own and does one
/// operation after another; each operation's latency goes into a slot of an array allocated before
/// the clock starts (<see cref="LatencyRecorder"/>), and the percentiles are computed at the end.
/// A Get run first puts <see cref="SmallObjectSettings.Keys"/> objects and reads each once (the
/// relay then holds them all), then reads them at random, checking every byte. A Put run writes
/// objects of distinct content under distinct names; each Put returns once the root has committed
/// it (docs/performance.md, "Small objects against Redis").
/// </summary>
internal static class SmallObjectBenchmark
{
    /// <summary>How long operations still in flight at the time bound may take before the run gives up on them.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(30);

    /// <summary>The longest the connections, the Get run's objects and the warm-up may take before the clock starts.</summary>
    internal static readonly TimeSpan PreparationLimit = TimeSpan.FromMinutes(10);

    public static async Task<SmallObjectResult> RunAsync(SmallObjectSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(progress);
        settings.Validate();

        using var preparation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        preparation.CancelAfter(PreparationLimit);
        BenchClients? connected = null;
        byte[][] objects = [];
        string[] keyNames = [];
        try
        {
            connected = await BenchClients.ConnectAsync(settings.Relay, settings.SharedSecret, settings.Clients, preparation.Token).ConfigureAwait(false);
            if (settings.Operation == SmallObjectOperation.Get)
            {
                (objects, keyNames) = MakeKeys(settings);
                progress.WriteLine($"putting {settings.Keys} objects of {settings.Size} bytes, then reading each once");
                await PrepareKeysAsync(connected, objects, keyNames, preparation.Token).ConfigureAwait(false);
            }
            else
            {
                await WarmUpPutsAsync(connected, settings, preparation.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (preparation.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            if (connected is not null)
            {
                await connected.DisposeAsync().ConfigureAwait(false);
            }

            throw new OmniStoreException(OmniStoreError.Unavailable, $"The preparation (connections, objects, warm-up) did not finish within {PreparationLimit.TotalMinutes:0} minutes.");
        }
        catch
        {
            if (connected is not null)
            {
                await connected.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        await using var clients = connected;

        var recorder = new LatencyRecorder(settings.Operations);
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        abandon.CancelAfter(settings.Duration + Grace);
        var failures = new BenchFailure();
        long start = Stopwatch.GetTimestamp();
        long deadline = start + (long)(settings.Duration.TotalSeconds * Stopwatch.Frequency);
        var running = new Task[clients.Count];
        for (int i = 0; i < running.Length; i++)
        {
            var client = clients[i];
            int index = i;
            running[i] = settings.Operation == SmallObjectOperation.Get
                ? Task.Run(() => RunGetsAsync(client, objects, keyNames, settings.Seed + index, recorder, deadline, failures, abandon.Token), CancellationToken.None)
                : Task.Run(() => RunPutsAsync(client, settings, index, recorder, deadline, failures, abandon.Token), CancellationToken.None);
        }

        await Task.WhenAll(running).ConfigureAwait(false);
        long end = Stopwatch.GetTimestamp();
        cancellationToken.ThrowIfCancellationRequested();

        return new SmallObjectResult
        {
            Operation = settings.Operation,
            Clients = settings.Clients,
            Size = settings.Size,
            Attempted = recorder.Claimed,
            Errors = recorder.Errors,
            Seconds = Stopwatch.GetElapsedTime(start, end).TotalSeconds,
            Latency = recorder.Summarize(),
            StoppedByTime = recorder.Claimed < recorder.Capacity,
            FirstError = failures.Message,
            FirstErrorKind = failures.Kind,
        };
    }

    /// <summary>The prepared objects' bytes (distinct, from the seed) and names.</summary>
    internal static (byte[][] Objects, string[] Names) MakeKeys(SmallObjectSettings settings)
    {
        var random = new Random(settings.Seed);
        var objects = new byte[settings.Keys][];
        var names = new string[settings.Keys];
        for (int key = 0; key < settings.Keys; key++)
        {
            objects[key] = new byte[settings.Size];
            random.NextBytes(objects[key]);
            names[key] = settings.KeyName(key);
        }

        return (objects, names);
    }

    /// <summary>Every client puts its share of the keys, then reads its share of them back (checked).</summary>
    private static async Task PrepareKeysAsync(BenchClients clients, byte[][] objects, string[] names, CancellationToken cancellationToken)
    {
        await Task.WhenAll(Enumerable.Range(0, clients.Count).Select(async client =>
        {
            for (int key = client; key < objects.Length; key += clients.Count)
            {
                await clients[client].PutAsync(names[key], objects[key], cancellationToken).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);

        // Read back by other clients than the one that put each key, so every connection has run Gets.
        await Task.WhenAll(Enumerable.Range(0, clients.Count).Select(async client =>
        {
            for (int key = client; key < objects.Length; key += clients.Count)
            {
                var got = await clients[(client + 1) % clients.Count].GetAsync(names[key], cancellationToken).ConfigureAwait(false);
                if (!got.AsSpan().SequenceEqual(objects[key]))
                {
                    throw new OmniStoreException(OmniStoreError.Corrupt, $"'{names[key]}' read back {got.Length} bytes that differ from the {objects[key].Length} put.");
                }
            }
        })).ConfigureAwait(false);
    }

    /// <summary>Every client puts a few objects of its own before the clock starts.</summary>
    private static Task WarmUpPutsAsync(BenchClients clients, SmallObjectSettings settings, CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, clients.Count).Select(async client =>
        {
            var data = new byte[settings.Size];
            new Random(settings.Seed - 1 - client).NextBytes(data);
            for (int i = 0; i < SmallObjectSettings.WarmUpOperationsPerClient; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(data, i);
                await clients[client].PutAsync(settings.WarmUpName(client, i), data, cancellationToken).ConfigureAwait(false);
            }
        }));

    private static async Task RunGetsAsync(OmniStoreClient client, byte[][] objects, string[] names, int seed, LatencyRecorder recorder, long deadline, BenchFailure failures, CancellationToken cancellationToken)
    {
        var random = new Random(seed);
        var buffer = new byte[objects[0].Length];
        using var destination = new MemoryStream(buffer, 0, buffer.Length, writable: true, publiclyVisible: true);
        while (Stopwatch.GetTimestamp() < deadline && recorder.TryClaim(out int slot))
        {
            int key = random.Next(objects.Length);
            destination.Position = 0;
            long started = Stopwatch.GetTimestamp();
            try
            {
                long length = await client.GetAsync(names[key], destination, cancellationToken).ConfigureAwait(false);
                long ended = Stopwatch.GetTimestamp();
                if (length != buffer.Length || !buffer.AsSpan().SequenceEqual(objects[key]))
                {
                    recorder.Failed(slot);
                    failures.Note(OmniStoreError.Corrupt, $"'{names[key]}' read {length} bytes that differ from the {buffer.Length} put");
                    continue;
                }

                recorder.Succeeded(slot, started, ended);
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException or NotSupportedException)
            {
                // NotSupportedException: more bytes than the object has, from a MemoryStream of fixed size.
                recorder.Failed(slot);
                failures.Note(ex);
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
            }
        }
    }

    private static async Task RunPutsAsync(OmniStoreClient client, SmallObjectSettings settings, int index, LatencyRecorder recorder, long deadline, BenchFailure failures, CancellationToken cancellationToken)
    {
        // One buffer per client; the slot number in its first bytes makes every Put's content
        // distinct, as every SET of redis-benchmark writes its value anew (no deduplication).
        var data = new byte[settings.Size];
        new Random(settings.Seed + index).NextBytes(data);
        while (Stopwatch.GetTimestamp() < deadline && recorder.TryClaim(out int slot))
        {
            if (data.Length >= sizeof(int))
            {
                BinaryPrimitives.WriteInt32LittleEndian(data, slot);
            }
            else
            {
                data[0] = (byte)slot;
            }

            string name = settings.PutName(slot);
            long started = Stopwatch.GetTimestamp();
            try
            {
                await client.PutAsync(name, data, cancellationToken).ConfigureAwait(false);
                recorder.Succeeded(slot, started, Stopwatch.GetTimestamp());
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
            {
                recorder.Failed(slot);
                failures.Note(ex);
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
            }
        }
    }
}
