using System.Buffers.Binary;
using System.Diagnostics;

namespace OmniStore.Cli.Bench;

/// <summary>
/// <c>omnistore bench gather</c>: a master gathering many small results from many workers. The
/// workers (a connection each) put their shares of the results at once, through a relay, each Put
/// acknowledged once durable at the root; when the last is done, the master gets every result,
/// keeping <see cref="GatherSettings.MasterConcurrency"/> Gets in flight on its one connection, and
/// checks each one's length and stamp. Both phases are timed by wall clock, every operation's
/// latency recorded as in <see cref="SmallObjectBenchmark"/>.
/// </summary>
internal static class GatherBenchmark
{
    public static async Task<GatherResult> RunAsync(GatherSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(settings.TimeLimit);
        var token = limit.Token;

        await using var workers = await BenchClients.ConnectAsync(settings.Relay, settings.SharedSecret, settings.Workers, token).ConfigureAwait(false);
        await using var master = await BenchClients.ConnectAsync(settings.Master ?? settings.Relay, settings.SharedSecret, 1, token).ConfigureAwait(false);

        // Warm-up: every worker puts one object and the master gets them all, before the clock starts.
        string warmUp = settings.NamePrefix + "/warm-up";
        await Task.WhenAll(Enumerable.Range(0, workers.Count).Select(w => workers[w].PutAsync($"{warmUp}/{w}", Stamped(settings, w, -1 - w), token).AsTask())).ConfigureAwait(false);
        for (int w = 0; w < workers.Count; w++)
        {
            await master[0].GetAsync($"{warmUp}/{w}", token).ConfigureAwait(false);
        }

        var failures = new BenchFailure();
        var puts = new LatencyRecorder(settings.Results);
        long putStart = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, workers.Count).Select(w => Task.Run(() => PutShareAsync(workers[w], settings, w, puts, failures, token), CancellationToken.None))).ConfigureAwait(false);
        long putEnd = Stopwatch.GetTimestamp();

        var gets = new LatencyRecorder(settings.Results);
        long getStart = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, settings.MasterConcurrency).Select(_ => Task.Run(() => GatherAsync(master[0], settings, gets, failures, token), CancellationToken.None))).ConfigureAwait(false);
        long getEnd = Stopwatch.GetTimestamp();
        cancellationToken.ThrowIfCancellationRequested();

        return new GatherResult
        {
            Workers = settings.Workers,
            Results = settings.Results,
            Size = settings.Size,
            MasterConcurrency = settings.MasterConcurrency,
            PutSeconds = Stopwatch.GetElapsedTime(putStart, putEnd).TotalSeconds,
            GatherSeconds = Stopwatch.GetElapsedTime(getStart, getEnd).TotalSeconds,
            PutLatency = puts.Summarize(),
            GetLatency = gets.Summarize(),
            Errors = puts.Errors + gets.Errors + (settings.Results - puts.Claimed) + (settings.Results - gets.Claimed),
            FirstError = failures.Message,
            FirstErrorKind = failures.Kind,
        };
    }

    /// <summary>A worker's buffer: bytes from its seed, the result's number in the first four.</summary>
    private static byte[] Stamped(GatherSettings settings, int worker, int result)
    {
        var data = new byte[settings.Size];
        new Random(settings.Seed + worker).NextBytes(data);
        BinaryPrimitives.WriteInt32LittleEndian(data, result);
        return data;
    }

    private static async Task PutShareAsync(OmniStoreClient client, GatherSettings settings, int worker, LatencyRecorder recorder, BenchFailure failures, CancellationToken cancellationToken)
    {
        var data = Stamped(settings, worker, worker);
        for (int result = worker; result < settings.Results && !cancellationToken.IsCancellationRequested; result += settings.Workers)
        {
            if (!recorder.TryClaim(out int slot))
            {
                return;
            }

            BinaryPrimitives.WriteInt32LittleEndian(data, result);
            long started = Stopwatch.GetTimestamp();
            try
            {
                await client.PutAsync(settings.ResultName(result), data, cancellationToken).ConfigureAwait(false);
                recorder.Succeeded(slot, started, Stopwatch.GetTimestamp());
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException)
            {
                recorder.Failed(slot);
                failures.Note(ex);
            }
        }
    }

    /// <summary>One of the master's Get loops: takes the next result's number from the shared slot counter.</summary>
    private static async Task GatherAsync(OmniStoreClient master, GatherSettings settings, LatencyRecorder recorder, BenchFailure failures, CancellationToken cancellationToken)
    {
        var buffer = new byte[settings.Size];
        using var destination = new MemoryStream(buffer, 0, buffer.Length, writable: true, publiclyVisible: true);
        while (!cancellationToken.IsCancellationRequested && recorder.TryClaim(out int result))
        {
            destination.Position = 0;
            long started = Stopwatch.GetTimestamp();
            try
            {
                long length = await master.GetAsync(settings.ResultName(result), destination, cancellationToken).ConfigureAwait(false);
                long ended = Stopwatch.GetTimestamp();
                if (length != settings.Size || BinaryPrimitives.ReadInt32LittleEndian(buffer) != result)
                {
                    recorder.Failed(result);
                    failures.Note(OmniStoreError.Corrupt, $"'{settings.ResultName(result)}' read {length} bytes that are not the result put");
                    continue;
                }

                recorder.Succeeded(result, started, ended);
            }
            catch (Exception ex) when (ex is OmniStoreException or OperationCanceledException or NotSupportedException)
            {
                recorder.Failed(result);
                failures.Note(ex);
            }
        }
    }
}
