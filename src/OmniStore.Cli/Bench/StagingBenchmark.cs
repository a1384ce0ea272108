using System.Globalization;

namespace OmniStore.Cli.Bench;

/// <summary>
/// <c>omnistore bench staging</c>: the sweep over workers and modes on one topology, each point a
/// fresh <see cref="StagingRun"/>, the table and chart rewritten after every run so an interrupted
/// sweep keeps what it measured. See docs/benchmarks.md.
/// </summary>
internal static class StagingBenchmark
{
    public static async Task<int> RunAsync(StagingSettings settings, IStagingTopology topology, TextWriter progress, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        string machine = MachineDescription.Describe();
        string variant = topology.ShapesWan ? "lab" : "loopback";
        Directory.CreateDirectory(settings.ResultsDirectory);
        string stem = Path.Combine(settings.ResultsDirectory, $"staging-{variant}-{started:yyyyMMdd-HHmmss}");
        progress.WriteLine($"network: {topology.Description}");
        progress.WriteLine($"machine: {machine}");

        var results = new List<StagingRunResult>();
        string scratchRoot = Path.Combine(Path.GetTempPath(), $"omnistore-staging-{Environment.ProcessId}-{started:HHmmss}");
        int index = 0;
        try
        {
            foreach (int workers in settings.Workers)
            {
                foreach (var mode in settings.Modes)
                {
                    string scratch = Path.Combine(scratchRoot, $"run-{index}");
                    Directory.CreateDirectory(scratch);
                    try
                    {
                        var result = await new StagingRun(topology, settings, mode, workers, index).ExecuteAsync(scratch, cancellationToken);
                        results.Add(result);
                        progress.WriteLine(Describe(result));
                    }
                    finally
                    {
                        TryDelete(scratch);
                        index++;
                    }

                    await WriteAsync(stem, settings, topology, machine, started, results, cancellationToken);
                }
            }
        }
        finally
        {
            TryDelete(scratchRoot);
        }

        progress.WriteLine($"results: {stem}.md, {stem}.svg, {stem}.json");
        return results.All(r => r.FailedWorkers == 0) ? ExitCodes.Success : ExitCodes.For(OmniStoreError.Corrupt);
    }

    private static string Describe(StagingRunResult r)
    {
        var c = CultureInfo.InvariantCulture;
        string floor = r.FloorSeconds is { } f ? string.Create(c, $", floor {f:0.00} s ({r.TimeOverFloor:0.00}x)") : string.Empty;
        string bytes = r.WanBytes is { } wan
            ? string.Create(c, $"WAN out of master {wan[0].Out / 1e6:0.0} MB, into sites {string.Join(" / ", wan.Skip(1).Select(l => (l.In / 1e6).ToString("0.0", c)))} MB (payload {string.Join(" / ", wan.Skip(1).Select(l => (l.PayloadIn / 1e6).ToString("0.0", c)))})")
            : string.Create(c, $"root sent {r.RootBytesOut / 1e6:0.0} MB");
        return string.Create(c, $"{r.Mode.Name(),-16} {r.Workers,3} workers: {r.Seconds,8:0.00} s{floor}; {bytes}; CPU {r.CpuSeconds:0.0} s{(r.FailedWorkers > 0 ? $"; {r.FailedWorkers} FAILED" : string.Empty)}");
    }

    private static async Task WriteAsync(string stem, StagingSettings settings, IStagingTopology topology, string machine, DateTimeOffset started, IReadOnlyList<StagingRunResult> results, CancellationToken cancellationToken)
    {
        var file = new StagingResultsFile(started, settings.CommandLine, settings.Transport == "tcp" ? topology.Description : $"{topology.Description}; every link over {settings.Transport}", machine, topology.ShapesWan, settings.Size, settings.Sites, results.Select(StagingRunRecord.From).ToArray());
        await File.WriteAllTextAsync(stem + ".json", StagingResultsJson.Serialize(file), cancellationToken);
        await WriteReportAsync(stem, file, cancellationToken);
    }

    /// <summary>Writes the table and chart of <paramref name="file"/> next to it (<c>omnistore bench report</c> redraws them from the JSON).</summary>
    public static async Task WriteReportAsync(string stem, StagingResultsFile file, CancellationToken cancellationToken)
    {
        var settings = new StagingSettings { Size = file.Size, Sites = file.Sites, CommandLine = file.Command };
        var results = file.Runs.Select(r => r.ToResult(file.Size)).ToArray();
        string network = file.Network;
        string machine = file.Machine;
        var started = file.Started;
        await File.WriteAllTextAsync(stem + ".md", StagingReport.Markdown(settings, network, machine, started, results), cancellationToken);
        string[] subtitle = [string.Create(CultureInfo.InvariantCulture, $"{settings.Size / 1e6:0.#} MB to every worker, workers spread over {settings.Sites} sites; dashed: the mode's physical floor"), network];
        await File.WriteAllTextAsync(stem + ".svg", SvgChart.Render("OmniStore staging: time until every worker holds the data", subtitle, results), cancellationToken);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
