using System.CommandLine;
using OmniStore.Lab;

namespace OmniStore.Cli.Commands;

/// <summary><c>omnistore lab clean [--all]</c>: removes what crashed lab runs left (docs/lab.md, "Clean-up").</summary>
internal static class LabCommand
{
    public static Command Create()
    {
        var all = new Option<bool>("--all") { Description = "Also remove labs whose owning process still runs (it will find its lab gone)" };
        var clean = new Command("clean", "Remove the network namespaces, wire processes and markers of lab runs whose owner is gone") { all };
        clean.SetGuardedAction(async (parseResult, cancellationToken) =>
        {
            LabCleanupReport report;
            try
            {
                report = await LabCleanup.RemoveLeftoversAsync(parseResult.GetValue(all), cancellationToken);
            }
            catch (LabException ex)
            {
                throw new UsageException(ex.Message);
            }

            Console.Out.WriteLine(report.RemovedRuns.Count == 0
                ? "no leftovers"
                : $"removed {report.RemovedRuns.Count} run(s): {string.Join(", ", report.RemovedRuns)}; {report.RemovedNamespaces.Count} namespace(s), {report.KilledProcesses.Count} process(es)");
            if (report.LiveRuns.Count > 0)
            {
                Console.Out.WriteLine($"left {report.LiveRuns.Count} live run(s) alone: {string.Join(", ", report.LiveRuns)} (--all removes them too)");
            }

            return ExitCodes.Success;
        });

        return new Command("lab", "The WAN lab of network namespaces the staging benchmark runs in") { clean };
    }
}
