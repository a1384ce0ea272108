using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace OmniStore.Lab.Internal;

/// <summary>
/// Runs code inside a named network namespace (one made by <c>ip netns add</c>) on a thread of its
/// own. A socket or TUN device created there belongs to that namespace for good, whichever thread
/// uses it afterwards; the thread itself enters the namespace, leaves it and ends, so no pooled
/// thread ever runs in the wrong namespace.
/// </summary>
internal static class NetworkNamespace
{
    public const string Directory = "/run/netns";

    public static string PathOf(string name) => Path.Combine(Directory, name);

    public static bool Exists(string name) => File.Exists(PathOf(name));

    public static T Run<T>(string name, Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = RunHere(name, action);
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            IsBackground = true,
            Name = $"netns {name}",
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    private static T RunHere<T>(string name, Func<T> action)
    {
        var original = Libc.Open("/proc/thread-self/ns/net", Libc.O_CLOEXEC);
        if (original < 0)
        {
            throw new LabException($"open /proc/thread-self/ns/net: {Libc.ErrorText(Marshal.GetLastPInvokeError())}");
        }

        try
        {
            var target = Libc.Open(PathOf(name), Libc.O_CLOEXEC);
            if (target < 0)
            {
                throw new LabException($"open {PathOf(name)}: {Libc.ErrorText(Marshal.GetLastPInvokeError())}");
            }

            try
            {
                if (Libc.SetNs(target, Libc.CLONE_NEWNET) != 0)
                {
                    throw new LabException($"setns {name}: {Libc.ErrorText(Marshal.GetLastPInvokeError())}");
                }
            }
            finally
            {
                Libc.Close(target);
            }

            try
            {
                return action();
            }
            finally
            {
                // If this fails the thread still ends right after, taking the namespace with it.
                Libc.SetNs(original, Libc.CLONE_NEWNET);
            }
        }
        finally
        {
            Libc.Close(original);
        }
    }
}
