using System.Globalization;

namespace OmniStore.Lab.Internal;

/// <summary>
/// A file per live run, <c>/run/omnistore-lab/PREFIX</c>, holding the owner's process id and start
/// time (a process id alone may be reused by another process after a crash).
/// </summary>
internal static class RunMarker
{
    public static string PathOf(string prefix) => Path.Combine(LabNames.MarkerDirectory, prefix);

    public static void Write(string prefix)
    {
        Directory.CreateDirectory(LabNames.MarkerDirectory);
        var pid = Environment.ProcessId;
        File.WriteAllText(PathOf(prefix), string.Create(CultureInfo.InvariantCulture, $"{pid} {StartTime(pid)}\n"));
    }

    public static void Delete(string prefix) => File.Delete(PathOf(prefix));

    public static IEnumerable<string> Prefixes() =>
        Directory.Exists(LabNames.MarkerDirectory)
            ? Directory.EnumerateFiles(LabNames.MarkerDirectory).Select(Path.GetFileName).OfType<string>().Where(n => LabNames.PrefixOf(n) == n)
            : [];

    /// <summary>True when the run's marker names a process that is still running.</summary>
    public static bool IsOwnerAlive(string prefix)
    {
        string text;
        try
        {
            text = File.ReadAllText(PathOf(prefix));
        }
        catch (IOException)
        {
            return false;
        }

        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 2 &&
            int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) &&
            StartTime(pid) is { } start && start == parts[1];
    }

    /// <summary>Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; null if there is no such process.</summary>
    public static string? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may hold spaces and parentheses; fields after it start after the last ')'.
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return rest[19];
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
