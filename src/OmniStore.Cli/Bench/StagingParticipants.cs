using System.Diagnostics;
using OmniStore.Cli.Demo;

namespace OmniStore.Cli.Bench;

/// <summary>
/// The processes a staging run is made of besides the daemons: the master, which puts the object,
/// and a site's workers, N clients in one process. Both connect and warm up first (see
/// <see cref="WarmUpSize"/>), say
/// <see cref="ParticipantEvent.Ready"/>, and start on the controller's <see cref="ParticipantEvent.GoLine"/>,
/// so their start-up is not part of the measured time.
/// </summary>
internal static class StagingParticipants
{
    private static readonly Lock OutputLock = new();

    /// <summary>
    /// Before saying ready, the master puts and every worker gets a small object of their own, so the
    /// code paths of every process (and of the daemons) are compiled before the clock starts.
    /// </summary>
    private const int WarmUpSize = 256 << 10;

    public static string WarmUpName(string name) => name + "-warm-up";

    public static async Task<int> RunMasterAsync(string rootUri, string name, long size, ulong seed, bool broadcast, OmniStoreOptions options, CancellationToken cancellationToken)
    {
        var data = StagingData.Generate(size, seed);
        await using var client = await OmniStoreClient.ConnectAsync(rootUri, options, cancellationToken);
        await client.PutAsync(WarmUpName(name), StagingData.Generate(WarmUpSize, ~seed), cancellationToken);
        Emit(new ParticipantEvent { Event = ParticipantEvent.Ready });
        await WaitForGoAsync(cancellationToken);

        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        long start = ParticipantEvent.Now();
        await client.PutAsync(name, data, new PutOptions { Broadcast = broadcast }, cancellationToken);
        Emit(new ParticipantEvent { Event = ParticipantEvent.Put, Start = start, End = ParticipantEvent.Now(), Bytes = size });
        Emit(new ParticipantEvent { Event = ParticipantEvent.Done, CpuSeconds = CpuSince(cpu) });
        return ExitCodes.Success;
    }

    public static async Task<int> RunWorkersAsync(string uri, string name, long size, ulong seed, int count, OmniStoreOptions options, CancellationToken cancellationToken)
    {
        var expected = StagingData.Generate(size, seed);
        var clients = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => OmniStoreClient.ConnectAsync(uri, options, cancellationToken)));
        try
        {
            await Task.WhenAll(clients.Select(client => client.GetAsync(WarmUpName(name), Stream.Null, cancellationToken).AsTask()));
            Emit(new ParticipantEvent { Event = ParticipantEvent.Ready });
            await WaitForGoAsync(cancellationToken);

            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var verified = await Task.WhenAll(clients.Select((client, i) => GetOneAsync(client, i)));
            Emit(new ParticipantEvent { Event = ParticipantEvent.Done, CpuSeconds = CpuSince(cpu) });
            return verified.All(ok => ok) ? ExitCodes.Success : ExitCodes.For(OmniStoreError.Corrupt);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        async Task<bool> GetOneAsync(OmniStoreClient client, int worker)
        {
            try
            {
                var check = new VerifyingStream(expected);
                long length = await client.GetAsync(name, check, cancellationToken);
                if (length != size || check.FirstMismatch is not null)
                {
                    Emit(new ParticipantEvent { Event = ParticipantEvent.Failed, Worker = worker, End = ParticipantEvent.Now(), Error = $"got {length} bytes, first difference at {check.FirstMismatch?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}" });
                    return false;
                }

                Emit(new ParticipantEvent { Event = ParticipantEvent.Verified, Worker = worker, End = ParticipantEvent.Now(), Bytes = length });
                return true;
            }
            catch (OmniStoreException ex)
            {
                Emit(new ParticipantEvent { Event = ParticipantEvent.Failed, Worker = worker, End = ParticipantEvent.Now(), Error = ex.Message });
                return false;
            }
        }
    }

    private static async Task WaitForGoAsync(CancellationToken cancellationToken)
    {
        while (await Console.In.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Trim() == ParticipantEvent.GoLine)
            {
                return;
            }
        }

        throw new OperationCanceledException("The controller closed stdin before saying go.");
    }

    private static double CpuSince(TimeSpan start) => (Process.GetCurrentProcess().TotalProcessorTime - start).TotalSeconds;

    private static void Emit(ParticipantEvent e)
    {
        lock (OutputLock)
        {
            Console.Out.WriteLine(e.ToLine());
            Console.Out.Flush();
        }
    }
}
