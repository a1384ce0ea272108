using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text.Json;
using OmniStore.Transport;

namespace OmniStore.Cli.Bench;

/// <summary>
/// <c>omnistore bench link</c>: a bulk transfer over one transport, like iperf3, for any registered
/// transport (tcp://, rudp://). The client opens its connections, sends a hello on each, then
/// writes as fast as the transport takes it until the time is up (or the bytes are sent) and ends
/// its stream; the server reads and discards, and at the end of each stream writes back a report:
/// how many bytes it read, over how long, and its process's CPU time then. Goodput is what the
/// server read over its receive time.
/// </summary>
/// <remarks>
/// Wire format (little-endian): the hello is <c>"OMNILNK1"</c>, a run id (8 bytes), the run's
/// connection count and this connection's index (4 bytes each); the report is <c>"OMNILNKR"</c>,
/// the stream bytes read after the hello, the receive time in microseconds, and the server
/// process's CPU time in microseconds when the hello came and when the stream ended.
/// </remarks>
internal static class LinkBenchmark
{
    public const int HelloSize = 24;
    public const int ReportSize = 40;

    private static readonly ulong HelloMagic = BinaryPrimitives.ReadUInt64LittleEndian("OMNILNK1"u8);
    private static readonly ulong ReportMagic = BinaryPrimitives.ReadUInt64LittleEndian("OMNILNKR"u8);

    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);

    /// <summary>How long a client waits for the server's report once its stream has ended, and a server for a hello.</summary>
    private static readonly TimeSpan ReportTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long a server holds a connection for its report to be acknowledged.</summary>
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(5);

    // ------------------------------------------------------------------------------------ server

    /// <summary>Accepts connections and discards what they send; returns when cancelled, or with <see cref="LinkSettings.Once"/> when the first run's connections have all ended.</summary>
    public static async Task<int> RunServerAsync(LinkSettings settings, TextWriter output, CancellationToken cancellationToken)
    {
        var address = settings.Listen ?? throw new ArgumentException("no --listen", nameof(settings));
        await using var listener = TransportRegistry.Default.Listen(address);
        lock (output)
        {
            foreach (var bound in listener.Addresses)
            {
                output.WriteLine($"listening on {bound}");
            }

            output.Flush();
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var handlers = new ConcurrentDictionary<Task, bool>();
        var runs = new ConcurrentDictionary<ulong, int>();
        ulong? firstRun = null;
        var firstRunLock = new Lock();

        void Finished(ulong run, int count)
        {
            int done = runs.AddOrUpdate(run, 1, (_, n) => n + 1);
            lock (firstRunLock)
            {
                firstRun ??= run;
                if (settings.Once && firstRun == run && done >= count)
                {
                    stop.Cancel();
                }
            }
        }

        try
        {
            while (!stop.IsCancellationRequested)
            {
                var accepted = await listener.AcceptAsync(stop.Token).ConfigureAwait(false);
                switch (accepted.Status)
                {
                    case AcceptStatus.Accepted when accepted.Connection!.Open(new LinkCounters()) is { } connection:
                        var remote = accepted.Connection.RemoteEndPoint?.ToString() ?? "?";
                        var task = Task.Run(() => ServeAsync(connection, remote, settings.Json, output, Finished, cancellationToken), CancellationToken.None);
                        handlers[task] = true;
                        _ = task.ContinueWith(t => handlers.TryRemove(t, out _), TaskScheduler.Default);
                        break;
                    case AcceptStatus.Stopped:
                        return ExitCodes.Success;
                    case AcceptStatus.ListenerFailed:
                        CommandFailure.Warn($"accepting failed: {accepted.Problem}; trying again in 100 ms");
                        await Task.Delay(100, stop.Token).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        // Connections still open (a signal, or another client during --once) get a moment to finish.
        await Task.WhenAll(handlers.Keys).WaitAsync(LingerTimeout + TimeSpan.FromSeconds(1), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return ExitCodes.Success;
    }

    private static async Task ServeAsync(TransportConnection connection, string remote, bool json, TextWriter output, Action<ulong, int> finished, CancellationToken cancellationToken)
    {
        ulong run = 0;
        int count = 0;
        long bytes = 0;
        try
        {
            double cpuStart = CpuSeconds();
            var input = connection.Input;
            ReadResult first;
            using (var helloDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                helloDeadline.CancelAfter(ReportTimeout);
                first = await input.ReadAtLeastAsync(HelloSize, helloDeadline.Token).ConfigureAwait(false);
            }

            if (first.Buffer.Length < HelloSize)
            {
                CommandFailure.Warn($"connection from {remote} ended before its hello ({first.Buffer.Length} bytes): not a bench link client");
                return;
            }

            Span<byte> hello = stackalloc byte[HelloSize];
            first.Buffer.Slice(0, HelloSize).CopyTo(hello);
            if (BinaryPrimitives.ReadUInt64LittleEndian(hello) != HelloMagic)
            {
                CommandFailure.Warn($"connection from {remote} did not start with a bench link hello: not a bench link client");
                return;
            }

            run = BinaryPrimitives.ReadUInt64LittleEndian(hello[8..]);
            count = Math.Clamp(BinaryPrimitives.ReadInt32LittleEndian(hello[16..]), 1, LinkSettings.MaxParallel);
            int index = BinaryPrimitives.ReadInt32LittleEndian(hello[20..]);
            long start = Stopwatch.GetTimestamp();
            cpuStart = CpuSeconds();
            bytes = first.Buffer.Length - HelloSize;
            bool completed = first.IsCompleted;
            input.AdvanceTo(first.Buffer.End);
            while (!completed)
            {
                var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
                bytes += result.Buffer.Length;
                completed = result.IsCompleted;
                input.AdvanceTo(result.Buffer.End);
            }

            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            double cpuEnd = CpuSeconds();

            var report = connection.Output.GetSpan(ReportSize);
            BinaryPrimitives.WriteUInt64LittleEndian(report, ReportMagic);
            BinaryPrimitives.WriteInt64LittleEndian(report[8..], bytes);
            BinaryPrimitives.WriteInt64LittleEndian(report[16..], (long)(seconds * 1e6));
            BinaryPrimitives.WriteInt64LittleEndian(report[24..], (long)(cpuStart * 1e6));
            BinaryPrimitives.WriteInt64LittleEndian(report[32..], (long)(cpuEnd * 1e6));
            connection.Output.Advance(ReportSize);
            await connection.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
            await connection.CloseOutputAsync().ConfigureAwait(false);

            // A transport that keeps its own state (rudp) holds the report until the client acknowledged
            // it: the listener's socket may close as soon as this returns (--once).
            var statistics = connection.GetFeature<ITransportStatistics>();
            if (statistics is not null)
            {
                long until = Stopwatch.GetTimestamp() + (long)(LingerTimeout.TotalSeconds * Stopwatch.Frequency);
                while (statistics.Statistics.BytesInFlight > 0 && Stopwatch.GetTimestamp() < until)
                {
                    await Task.Delay(5, CancellationToken.None).ConfigureAwait(false);
                }
            }

            WriteServerLine(output, json, remote, run, index, count, bytes, seconds, cpuEnd - cpuStart, statistics?.Statistics);
        }
        catch (Exception ex) when (ex is IOException or OmniStoreException or OperationCanceledException or InvalidOperationException)
        {
            string state = connection.GetFeature<ITransportStatistics>() is { } statistics ? "; the connection: " + LinkResult.Describe(statistics.Statistics, 0) : "";
            CommandFailure.Warn($"connection from {remote} failed after {bytes:N0} bytes read: {ex.Message}{state}");
        }
        finally
        {
            await CloseAsync(connection).ConfigureAwait(false);
            if (count > 0)
            {
                finished(run, count);
            }
        }
    }

    private static void WriteServerLine(TextWriter output, bool json, string remote, ulong run, int index, int count, long bytes, double seconds, double cpu, TransportStatistics? statistics)
    {
        if (json)
        {
            var buffer = new ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteString("operation", "link-server");
                writer.WriteString("remote", remote);
                writer.WriteString("run", run.ToString("x16", CultureInfo.InvariantCulture));
                writer.WriteNumber("index", index);
                writer.WriteNumber("connections", count);
                writer.WriteNumber("bytes", bytes);
                writer.WriteNumber("seconds", Math.Round(seconds, 6));
                writer.WriteNumber("goodputMbps", Math.Round(LinkResult.Mbps(bytes, seconds), 3));
                writer.WriteNumber("cpuSeconds", Math.Round(cpu, 4));
                writer.WriteNumber("cpuSecondsPerGB", Math.Round(LinkResult.PerGB(cpu, bytes), 4));
                if (statistics is not null)
                {
                    writer.WritePropertyName("transportStatistics");
                    LinkResult.WriteStatistics(writer, statistics, 0);
                }

                writer.WriteEndObject();
            }

            lock (output)
            {
                output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
                output.Flush();
            }

            return;
        }

        var c = CultureInfo.InvariantCulture;
        lock (output)
        {
            output.WriteLine(string.Create(c, $"connection from {remote} (run {run:x16}, {index} of {count}): {bytes:N0} bytes in {seconds:0.000} s, {LinkResult.Mbps(bytes, seconds):0.0} Mbit/s; server cpu {cpu:0.000} s ({LinkResult.PerGB(cpu, bytes):0.00} s/GB)"));
            if (statistics is not null)
            {
                output.WriteLine("  " + LinkResult.Describe(statistics, 0));
            }

            output.Flush();
        }
    }

    // ------------------------------------------------------------------------------------ client

    /// <summary>Runs the client side: <see cref="LinkSettings.Parallel"/> connections sending at once.</summary>
    public static async Task<LinkResult> RunClientAsync(LinkSettings settings, CancellationToken cancellationToken)
    {
        var address = settings.Connect ?? throw new ArgumentException("no --connect", nameof(settings));
        double cpuStart = CpuSeconds();
        ulong run = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8));
        var payload = new byte[settings.WriteSize];
        new Random(1).NextBytes(payload);

        var connections = new TransportConnection?[settings.Parallel];
        try
        {
            using (var connectDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectDeadline.CancelAfter(ConnectTimeout);
                try
                {
                    await Task.WhenAll(Enumerable.Range(0, settings.Parallel).Select(async i =>
                        connections[i] = await TransportRegistry.Default.ConnectAsync(address, new LinkCounters(), connectDeadline.Token).ConfigureAwait(false))).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (connectDeadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    throw new OmniStoreException(OmniStoreError.Unavailable, $"Cannot connect to {address}: no answer within {ConnectTimeout.TotalSeconds:0} s.");
                }
            }

            long start = Stopwatch.GetTimestamp();
            long? deadline = settings.Bytes is null ? start + (long)(settings.Duration.TotalSeconds * Stopwatch.Frequency) : null;
            var flows = await Task.WhenAll(connections.Select((connection, i) =>
                Task.Run(() => RunFlowAsync(connection!, run, i, settings, payload, start, deadline, cancellationToken), cancellationToken))).ConfigureAwait(false);
            double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
            return new LinkResult
            {
                Address = address,
                Settings = settings,
                Flows = flows,
                ClientCpuSeconds = CpuSeconds() - cpuStart,
                WallSeconds = wall,
                CongestionControl = address.Scheme == "rudp" && Environment.GetEnvironmentVariable("OMNISTORE_RUDP_CC") is { Length: > 0 } cc ? cc.ToLowerInvariant() : null,
            };
        }
        finally
        {
            foreach (var connection in connections)
            {
                if (connection is not null)
                {
                    await CloseAsync(connection).ConfigureAwait(false);
                }
            }
        }
    }

    private static async Task<LinkFlowResult> RunFlowAsync(TransportConnection connection, ulong run, int index, LinkSettings settings, byte[] payload, long start, long? deadline, CancellationToken cancellationToken)
    {
        var output = connection.Output;
        var hello = output.GetSpan(HelloSize);
        BinaryPrimitives.WriteUInt64LittleEndian(hello, HelloMagic);
        BinaryPrimitives.WriteUInt64LittleEndian(hello[8..], run);
        BinaryPrimitives.WriteInt32LittleEndian(hello[16..], settings.Parallel);
        BinaryPrimitives.WriteInt32LittleEndian(hello[20..], index + 1);
        output.Advance(HelloSize);

        long sent = 0;
        long limit = settings.Bytes ?? long.MaxValue;

        // A transport that completes no write for ReportTimeout has stalled: say so, with its state, rather than wait for ever.
        using var stalled = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        long progress = Stopwatch.GetTimestamp();
        using var watchdog = new Timer(
            _ =>
            {
                if (Stopwatch.GetElapsedTime(Volatile.Read(ref progress)) > ReportTimeout)
                {
                    stalled.Cancel();
                }
            },
            null,
            TimeSpan.FromSeconds(1),
            TimeSpan.FromSeconds(1));
        try
        {
            while (sent < limit && (deadline is not { } d || Stopwatch.GetTimestamp() < d))
            {
                int n = (int)Math.Min(payload.Length, limit - sent);
                output.Write(payload.AsSpan(0, n));
                sent += n;
                var flush = await output.FlushAsync(stalled.Token).ConfigureAwait(false);
                Volatile.Write(ref progress, Stopwatch.GetTimestamp());
                if (flush.IsCompleted)
                {
                    throw new IOException($"The server at {settings.Connect} stopped reading after {sent:N0} bytes.");
                }
            }
        }
        catch (OperationCanceledException) when (stalled.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            string state = connection.GetFeature<ITransportStatistics>() is { } stuck ? "; the connection: " + LinkResult.Describe(stuck.Statistics, sent) : "";
            throw new OmniStoreException(OmniStoreError.Unavailable, $"Connection {index + 1} to {settings.Connect}: no write completed for {ReportTimeout.TotalSeconds:0} s after {sent:N0} bytes were written (the transport took next to nothing){state}.");
        }

        await connection.CloseOutputAsync().ConfigureAwait(false);

        ReadResult read;
        using (var reportDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            reportDeadline.CancelAfter(ReportTimeout);
            try
            {
                read = await connection.Input.ReadAtLeastAsync(ReportSize, reportDeadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (reportDeadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                string state = connection.GetFeature<ITransportStatistics>() is { } stuck ? "; the connection: " + LinkResult.Describe(stuck.Statistics, sent) : "";
                throw new OmniStoreException(OmniStoreError.Unavailable, $"The server at {settings.Connect} did not report within {ReportTimeout.TotalSeconds:0} s of the end of the stream ({sent:N0} bytes sent on connection {index + 1}){state}.");
            }
        }

        double clientSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (read.Buffer.Length < ReportSize)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The server at {settings.Connect} closed without a report ({read.Buffer.Length} bytes): is it omnistore bench link --listen?");
        }

        Span<byte> report = stackalloc byte[ReportSize];
        read.Buffer.Slice(0, ReportSize).CopyTo(report);
        connection.Input.AdvanceTo(read.Buffer.End);
        if (BinaryPrimitives.ReadUInt64LittleEndian(report) != ReportMagic)
        {
            throw new OmniStoreException(OmniStoreError.Unavailable, $"The server at {settings.Connect} answered with something other than a bench link report.");
        }

        return new LinkFlowResult
        {
            Index = index + 1,
            BytesSent = sent,
            ServerBytes = BinaryPrimitives.ReadInt64LittleEndian(report[8..]),
            ServerSeconds = BinaryPrimitives.ReadInt64LittleEndian(report[16..]) / 1e6,
            ServerCpuStart = BinaryPrimitives.ReadInt64LittleEndian(report[24..]) / 1e6,
            ServerCpuEnd = BinaryPrimitives.ReadInt64LittleEndian(report[32..]) / 1e6,
            ClientSeconds = clientSeconds,
            Statistics = connection.GetFeature<ITransportStatistics>()?.Statistics,
        };
    }

    /// <summary>Disposes <paramref name="connection"/>, waiting at most <see cref="LingerTimeout"/>: a stuck transport must not keep the result (or the error) from being reported.</summary>
    private static async Task CloseAsync(TransportConnection connection)
    {
        var dispose = connection.DisposeAsync().AsTask();
        await dispose.WaitAsync(LingerTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!dispose.IsCompleted)
        {
            CommandFailure.Warn($"closing the connection to {connection.RemoteEndPoint} did not finish within {LingerTimeout.TotalSeconds:0} s; left behind");
        }
    }

    /// <summary>This process's CPU time, user and system, in seconds.</summary>
    private static double CpuSeconds()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime.TotalSeconds;
    }
}
