using System.Runtime.InteropServices;

namespace OmniStore.Internal;

/// <summary>
/// The process's limit on open file descriptors (<c>RLIMIT_NOFILE</c>) on Linux and macOS: every
/// connection, store file and loaded assembly takes one, and a process that runs out cannot accept,
/// open or even load code. Elsewhere there is no such limit to read (null).
/// </summary>
internal static partial class DescriptorLimit
{
    /// <summary>What getrlimit says for "no limit", as a count.</summary>
    public const long Unlimited = long.MaxValue;

    /// <summary>The soft (enforced) and hard (ceiling for the soft one) limits, or null where unknown.</summary>
    public static (long Soft, long Hard)? Get()
    {
        if (Resource() is not { } resource || GetRlimit(resource, out var limit) != 0)
        {
            return null;
        }

        return (Count(limit.Current), Count(limit.Maximum));
    }

    /// <summary>
    /// Raises the soft limit to the hard one, as daemons do at start (the soft default, often 1024,
    /// dates from select(2) and is far below what a node with thousands of connections needs).
    /// Returns the soft limit before and after, or null (with <paramref name="problem"/>) if it
    /// cannot. A hard limit of "unlimited" is not a value the kernel accepts for the soft one
    /// everywhere (macOS caps it at OPEN_MAX); then the soft limit stays.
    /// </summary>
    public static (long Before, long After)? TryRaiseSoftToHard(out string? problem)
    {
        problem = null;
        if (Resource() is not { } resource)
        {
            problem = "this system has no descriptor limit to raise";
            return null;
        }

        if (GetRlimit(resource, out var limit) != 0)
        {
            problem = $"getrlimit failed (errno {Marshal.GetLastPInvokeError()})";
            return null;
        }

        long before = Count(limit.Current);
        if (limit.Current >= limit.Maximum)
        {
            return (before, before);
        }

        var raised = limit;
        raised.Current = limit.Maximum;
        if (SetRlimit(resource, raised) != 0)
        {
            problem = $"setrlimit to {Count(limit.Maximum)} failed (errno {Marshal.GetLastPInvokeError()})";
            return null;
        }

        return (before, Count(limit.Maximum));
    }

    /// <summary>Descriptors open now, where the system lists them (/proc/self/fd, /dev/fd); else null.</summary>
    public static int? OpenNow()
    {
        foreach (string directory in (string[])["/proc/self/fd", "/dev/fd"])
        {
            try
            {
                // Less the one the listing itself holds open.
                return Math.Max(0, Directory.GetFileSystemEntries(directory).Length - 1);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }

        return null;
    }

    private static long Count(ulong value) => value >= long.MaxValue ? Unlimited : (long)value;

    /// <summary>RLIMIT_NOFILE: 7 on Linux, 8 on macOS and the BSDs.</summary>
    private static int? Resource() =>
        OperatingSystem.IsLinux() ? 7
        : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 8
        : null;

    /// <summary><c>struct rlimit</c>: two <c>rlim_t</c>, 64-bit on every 64-bit Linux and macOS.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Rlimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRlimit(int resource, out Rlimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRlimit(int resource, in Rlimit limit);
}
