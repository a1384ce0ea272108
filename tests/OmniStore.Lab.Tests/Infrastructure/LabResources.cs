using System.Diagnostics;
using System.Text;

namespace OmniStore.Lab.Tests.Infrastructure;

/// <summary>What of a lab run exists on the host: namespaces, marker file, processes that carry its prefix or live in its namespaces.</summary>
public static class LabResources
{
    public static string[] Namespaces(string prefix) =>
        Directory.Exists("/run/netns")
            ? [.. Directory.EnumerateFileSystemEntries("/run/netns").Select(Path.GetFileName).OfType<string>().Where(n => n.StartsWith(prefix + ".", StringComparison.Ordinal))]
            : [];

    public static bool MarkerExists(string prefix) => File.Exists(Path.Combine("/run/omnistore-lab", prefix));

    /// <summary>True while the process runs; a zombie (killed, not yet reaped by its parent) counts as gone.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Processes whose command line mentions the prefix (the wire does).</summary>
    public static int[] ProcessesMentioning(string prefix)
    {
        var found = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                if (Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(directory, "cmdline"))).Contains(prefix, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return [.. found];
    }

    /// <summary>Process ids inside a namespace (<c>ip netns pids</c>).</summary>
    public static async Task<int[]> PidsInAsync(string ns)
    {
        using var process = Process.Start(new ProcessStartInfo("ip", ["netns", "pids", ns]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture))];
    }

    /// <summary>The host namespace's interface names.</summary>
    public static string[] HostLinks() => [.. Directory.EnumerateFileSystemEntries("/sys/class/net").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];
}
