using System.Text;
using OmniStore.Lab.Internal;

namespace OmniStore.Lab;

/// <summary>
/// Removes what crashed lab runs left behind. A run is found by its prefix (<c>omnilab-</c> and six
/// hex digits) on network namespaces, on the wire's command line and on its marker file in
/// /run/omnistore-lab (its directories in the temporary directory carry it too); it is a leftover when the process named in its marker is gone (or there is
/// no marker). Nothing without the prefix is ever touched.
/// </summary>
public static class LabCleanup
{
    /// <summary>Removes the resources of every lab run whose owning process is gone.</summary>
    /// <param name="includeLiveRuns">Also remove runs whose owner still runs (it will find its lab gone).</param>
    /// <param name="cancellationToken">Stops between runs.</param>
    /// <exception cref="LabException">Not root, or a namespace could not be deleted.</exception>
    public static async Task<LabCleanupReport> RemoveLeftoversAsync(bool includeLiveRuns = false, CancellationToken cancellationToken = default)
    {
        if (!OperatingSystem.IsLinux() || Libc.GetEffectiveUserId() != 0)
        {
            throw new LabException("Cleaning up lab runs needs root on Linux.");
        }

        var namespaces = ListNamespaces();
        var wires = ListWireProcesses();
        var prefixes = namespaces.Select(LabNames.PrefixOf)
            .Concat(wires.Select(w => w.Prefix))
            .Concat(RunMarker.Prefixes())
            .OfType<string>()
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToArray();

        List<string> removedRuns = [], removedNamespaces = [], liveRuns = [];
        List<int> killed = [];
        foreach (var prefix in prefixes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!includeLiveRuns && RunMarker.IsOwnerAlive(prefix))
            {
                liveRuns.Add(prefix);
                continue;
            }

            var runNamespaces = namespaces.Where(n => LabNames.PrefixOf(n) == prefix).ToArray();
            foreach (var ns in runNamespaces)
            {
                killed.AddRange(await Lab.KillProcessesInAsync(ns).ConfigureAwait(false));
            }

            foreach (var wire in wires.Where(w => w.Prefix == prefix))
            {
                if (Libc.Kill(wire.Pid, 9) == 0)
                {
                    killed.Add(wire.Pid);
                }
            }

            foreach (var ns in runNamespaces)
            {
                await Lab.DeleteNamespaceAsync(ns).ConfigureAwait(false);
                removedNamespaces.Add(ns);
            }

            foreach (var directory in Directory.EnumerateDirectories(Path.GetTempPath(), prefix + ".*"))
            {
                Directory.Delete(directory, recursive: true); // miniupnpd's configuration and leases
            }

            File.Delete(RunMarker.PathOf(prefix));
            removedRuns.Add(prefix);
        }

        return new LabCleanupReport(removedRuns, removedNamespaces, killed, liveRuns);
    }

    /// <summary>The lab's namespaces on this host, of every run (live or not).</summary>
    public static IReadOnlyList<string> ListNamespaces() =>
        Directory.Exists(NetworkNamespace.Directory)
            ? [.. Directory.EnumerateFileSystemEntries(NetworkNamespace.Directory).Select(Path.GetFileName).OfType<string>().Where(n => LabNames.PrefixOf(n) is not null).Order(StringComparer.Ordinal)]
            : [];

    /// <summary>Wire processes of every run: found by the <c>wire --tag PREFIX</c> on their command line.</summary>
    internal static IReadOnlyList<(int Pid, string Prefix)> ListWireProcesses()
    {
        var found = new List<(int, string)>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            string[] arguments;
            try
            {
                arguments = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(directory, "cmdline"))).Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            var mode = Array.IndexOf(arguments, Wire.WireHost.Mode);
            if (mode > 0 && mode + 2 < arguments.Length && arguments[mode + 1] == "--tag" &&
                arguments[mode - 1].EndsWith("OmniStore.Lab.dll", StringComparison.Ordinal) &&
                LabNames.PrefixOf(arguments[mode + 2]) is { } prefix && prefix == arguments[mode + 2])
            {
                found.Add((pid, prefix));
            }
        }

        return found;
    }
}
