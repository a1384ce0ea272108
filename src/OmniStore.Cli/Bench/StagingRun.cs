using System.Globalization;
using OmniStore.Cli.Daemon;
using OmniStore.Cli.Status;

namespace OmniStore.Cli.Bench;

/// <summary>
/// One (mode, workers) point of a staging sweep: fresh daemons and stores, one new object, the
/// participants started and connected before the clock starts (docs/benchmarks.md, "What one run is").
/// </summary>
internal sealed class StagingRun(IStagingTopology topology, StagingSettings settings, StagingMode mode, int workers, int index)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly List<StagedProcess> _processes = [];
    private string? _relaySecretFile;
    private string? _rendezvous;
    private StagingCertificates? _tls;

    public async Task<StagingRunResult> ExecuteAsync(string scratch, CancellationToken cancellationToken)
    {
        var perSite = settings.Spread(workers);
        string name = $"staging/run-{index}";
        ulong seed = (ulong)Environment.TickCount64 ^ ((ulong)index << 40);
        var inv = CultureInfo.InvariantCulture;
        try
        {
            // Daemons: the root, and (relay modes) one relay per site, each connected before the clock starts.
            // They share a relay secret made for this run, so that the root accepts its relays.
            _relaySecretFile = WriteRelaySecret(scratch);
            _tls = settings.Transport.StartsWith(Transport.Tls.TlsTransport.Prefix, StringComparison.Ordinal) ? StagingCertificates.Make(scratch, topology) : null;
            if (topology.RendezvousSite is { } rendezvousSite)
            {
                // Behind NAT: the root registers at a public rendezvous, and every node finds it by name.
                var rendezvousProcess = Track(topology.Start(rendezvousSite, "rendezvous", ["rendezvous", "--listen", $"rudp://{topology.HostOf(rendezvousSite)}:0"]));
                _rendezvous = (await rendezvousProcess.WaitForLineAsync(line => line.StartsWith(RelayDaemon.ListeningPrefix, StringComparison.Ordinal), StartTimeout, cancellationToken))[RelayDaemon.ListeningPrefix.Length..].Trim();
            }

            var (root, rootAddress, rootStatus) = await StartDaemonAsync(-1, Path.Combine(scratch, "root"), parent: null, cancellationToken);
            string rootByName = _rendezvous is null ? rootAddress : "rudp://master";
            var relays = new List<(StagedProcess Process, string Address, string? Status)>();
            if (mode != StagingMode.Direct)
            {
                for (int site = 0; site < topology.SiteCount; site++)
                {
                    var relay = await StartDaemonAsync(site, Path.Combine(scratch, $"relay-{site}"), rootByName, cancellationToken);
                    relays.Add(relay);
                }
            }

            string[] participantTls = _tls?.ParticipantArguments() ?? [];
            var master = Track(topology.Start(-1, "master", ["bench", "master", "--root", rootAddress, "--name", name, "--size", settings.Size.ToString(inv), "--seed", seed.ToString(inv), .. (mode == StagingMode.RelayBroadcast ? ["--broadcast"] : Array.Empty<string>()), .. participantTls]));
            await WaitReadyAsync(master, cancellationToken); // its warm-up object is what the workers warm up on
            var workerProcesses = new List<(StagedProcess Process, int Count)>();
            for (int site = 0; site < perSite.Count; site++)
            {
                if (perSite[site] == 0)
                {
                    continue;
                }

                string source = mode == StagingMode.Direct ? rootByName : relays[site].Address;
                string[] byName = mode == StagingMode.Direct && _rendezvous is not null ? ["--rendezvous", _rendezvous] : [];
                var process = Track(topology.Start(site, $"workers of site {site}", ["bench", "worker", "--relay", source, "--count", perSite[site].ToString(inv), "--name", name, "--size", settings.Size.ToString(inv), "--seed", seed.ToString(inv), .. participantTls, .. byName]));
                workerProcesses.Add((process, perSite[site]));
            }

            foreach (var (process, _) in workerProcesses)
            {
                await WaitReadyAsync(process, cancellationToken);
            }

            var daemons = new List<StagedProcess> { root };
            daemons.AddRange(relays.Select(r => r.Process));
            var countersBefore = await topology.ReadWanCountersAsync(cancellationToken);
            var (rootOutBefore, relayInBefore) = await ReadNodeCountersAsync(rootStatus, relays, cancellationToken);
            var daemonCpuBefore = daemons.Sum(d => d.CpuTime().TotalSeconds);

            // The clock: the Put's start, as the master saw it, to the last worker's verified copy.
            await master.SendLineAsync(ParticipantEvent.GoLine);
            double? floor = Floor(perSite);
            var runTimeout = RunTimeout(floor);
            var put = await WaitEventAsync(master, e => e.Event == ParticipantEvent.Put, runTimeout, cancellationToken);
            var masterDone = await WaitEventAsync(master, e => e.Event == ParticipantEvent.Done, StartTimeout, cancellationToken);
            foreach (var (process, _) in workerProcesses)
            {
                await process.SendLineAsync(ParticipantEvent.GoLine);
            }

            long lastEnd = put.End!.Value;
            int failed = 0;
            double cpu = masterDone.CpuSeconds ?? 0;
            foreach (var (process, count) in workerProcesses)
            {
                int reported = 0;
                while (reported < count)
                {
                    var e = await WaitEventAsync(process, e => e.Event is ParticipantEvent.Verified or ParticipantEvent.Failed, runTimeout, cancellationToken);
                    reported++;
                    lastEnd = Math.Max(lastEnd, e.End ?? lastEnd);
                    if (e.Event == ParticipantEvent.Failed)
                    {
                        failed++;
                        Console.Error.WriteLine($"omnistore: warning: {process.Label}, worker {e.Worker}: {e.Error}");
                    }
                }

                cpu += (await WaitEventAsync(process, e => e.Event == ParticipantEvent.Done, StartTimeout, cancellationToken)).CpuSeconds ?? 0;
            }

            cpu += daemons.Sum(d => d.CpuTime().TotalSeconds) - daemonCpuBefore;
            var countersAfter = await topology.ReadWanCountersAsync(cancellationToken);
            var (rootOut, relayIn) = await ReadNodeCountersAsync(rootStatus, relays, cancellationToken);

            return new StagingRunResult
            {
                Mode = mode,
                Workers = workers,
                WorkersPerSite = perSite,
                Size = settings.Size,
                Seconds = (lastEnd - put.Start!.Value) / 1e9,
                PutSeconds = (put.End.Value - put.Start.Value) / 1e9,
                FloorSeconds = floor,
                WanBytes = countersBefore is null || countersAfter is null ? null : countersAfter.Zip(countersBefore, (a, b) => a - b).ToArray(),
                RootBytesOut = rootOut - rootOutBefore,
                RelayBytesIn = relayIn.Zip(relayInBefore, (after, before) => after - before).ToArray(),
                CpuSeconds = cpu,
                FailedWorkers = failed,
            };
        }
        finally
        {
            foreach (var process in _processes)
            {
                await process.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The bottleneck link's time for the bytes the mode must move: every worker's copy leaves the
    /// master site in direct mode; one copy per site with workers (per site, with broadcast) in the others.
    /// </summary>
    private double? Floor(IReadOnlyList<int> perSite)
    {
        if (topology.RateOf(-1) is not { } masterRate)
        {
            return null;
        }

        double bits = settings.Size * 8.0;
        var sites = Enumerable.Range(0, perSite.Count);
        return mode switch
        {
            StagingMode.Direct => Math.Max(perSite.Sum() * bits / masterRate, sites.Max(s => perSite[s] * bits / topology.RateOf(s)!.Value)),
            StagingMode.Relay => Math.Max(perSite.Count(n => n > 0) * bits / masterRate, sites.Where(s => perSite[s] > 0).Max(s => bits / topology.RateOf(s)!.Value)),
            _ => Math.Max(perSite.Count * bits / masterRate, sites.Max(s => bits / topology.RateOf(s)!.Value)),
        };
    }

    /// <summary>Generous: ten times the floor (or two minutes without one), plus start-up slack.</summary>
    private static TimeSpan RunTimeout(double? floor) =>
        TimeSpan.FromSeconds(120 + (10 * (floor ?? 12)));

    private async Task<(StagedProcess Process, string Address, string? Status)> StartDaemonAsync(int site, string dataDirectory, string? parent, CancellationToken cancellationToken)
    {
        var inv = CultureInfo.InvariantCulture;
        var arguments = new List<string>
        {
            "relay", "--listen", $"{settings.Transport}://{topology.HostOf(site)}:0", "--data-dir", dataDirectory,
            "--site", site < 0 ? "master" : $"site-{site}", "--relay-secret-file", _relaySecretFile!,
        };
        if (_tls is not null)
        {
            arguments.AddRange(_tls.NodeArguments(site));
        }

        if (parent is not null)
        {
            arguments.AddRange(["--parent", parent, "--cache-size", Math.Max(4 * settings.Size, 256L << 20).ToString(inv)]);
        }

        if (_rendezvous is not null)
        {
            arguments.AddRange(parent is null ? ["--node-id", "master", "--rendezvous", _rendezvous] : ["--rendezvous", _rendezvous]);
        }

        if (!topology.ShapesWan)
        {
            arguments.AddRange(["--status-listen", $"http://{topology.HostOf(site)}:0"]);
        }

        var process = Track(topology.Start(site, site < 0 ? "root" : $"relay of site {site}", arguments));
        string listening = await process.WaitForLineAsync(line => line.StartsWith(RelayDaemon.ListeningPrefix, StringComparison.Ordinal), StartTimeout, cancellationToken);
        string? status = null;
        if (!topology.ShapesWan)
        {
            status = (await process.WaitForLineAsync(line => line.StartsWith(RelayDaemon.StatusPrefix, StringComparison.Ordinal), StartTimeout, cancellationToken))[RelayDaemon.StatusPrefix.Length..].Trim();
        }

        if (parent is not null)
        {
            await process.WaitForStderrAsync("Connected to parent", StartTimeout, cancellationToken);
        }

        return (process, listening[RelayDaemon.ListeningPrefix.Length..].Trim(), status);
    }

    private static string WriteRelaySecret(string scratch)
    {
        string path = Path.Combine(scratch, "relay.secret");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var file = new StreamWriter(path, System.Text.Encoding.ASCII, options))
        {
            file.Write(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        }

        return path;
    }

    private StagedProcess Track(StagedProcess process)
    {
        _processes.Add(process);
        return process;
    }

    private static async Task WaitReadyAsync(StagedProcess process, CancellationToken cancellationToken) =>
        await WaitEventAsync(process, e => e.Event == ParticipantEvent.Ready, StartTimeout, cancellationToken);

    private static async Task<ParticipantEvent> WaitEventAsync(StagedProcess process, Func<ParticipantEvent, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        string line = await process.WaitForLineAsync(l => ParticipantEvent.TryParse(l) is { } e && match(e), timeout, cancellationToken);
        return ParticipantEvent.TryParse(line)!;
    }

    /// <summary>What the root sent its children and each relay received from the root, by their own counters (loopback only).</summary>
    private static async Task<(long RootOut, long[] RelayIn)> ReadNodeCountersAsync(string? rootStatus, List<(StagedProcess Process, string Address, string? Status)> relays, CancellationToken cancellationToken)
    {
        long rootOut = rootStatus is null ? 0 : (await ReadStatusAsync(rootStatus, cancellationToken)).ChildrenTotal.WireOut;
        var relayIn = new long[relays.Count];
        for (int i = 0; i < relays.Count; i++)
        {
            relayIn[i] = relays[i].Status is { } status ? (await ReadStatusAsync(status, cancellationToken)).Parent?.Traffic.WireIn ?? 0 : 0;
        }

        return (rootOut, relayIn);
    }

    private static async Task<Node.NodeStatus> ReadStatusAsync(string statusUrl, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return StatusJson.Deserialize(await http.GetStringAsync(new Uri(new Uri(statusUrl), "/status"), cancellationToken));
    }
}
