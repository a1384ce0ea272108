using System.Runtime.InteropServices;

namespace OmniStore.Cli.Bench;

/// <summary>One line describing the machine a benchmark ran on, for its results.</summary>
internal static class MachineDescription
{
    public static string Describe()
    {
        string cpu = FirstValue("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        string memory = FirstValue("/proc/meminfo", "MemTotal") is { } kb && long.TryParse(kb.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], out long k)
            ? $"{k / (1024.0 * 1024.0):0.#} GiB"
            : "unknown memory";
        string os = FirstValue("/etc/os-release", "PRETTY_NAME", '=')?.Trim('"') ?? RuntimeInformation.OSDescription;
        string kernel = TryRead("/proc/sys/kernel/osrelease")?.Trim() ?? "unknown kernel";
        return $"{cpu}, {Environment.ProcessorCount} cores, {memory}; {os}, Linux {kernel}; {RuntimeInformation.FrameworkDescription}";
    }

    private static string? FirstValue(string path, string key, char separator = ':')
    {
        foreach (string line in (TryRead(path) ?? string.Empty).Split('\n'))
        {
            int at = line.IndexOf(separator, StringComparison.Ordinal);
            if (at > 0 && line[..at].Trim() == key)
            {
                return line[(at + 1)..].Trim();
            }
        }

        return null;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
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
