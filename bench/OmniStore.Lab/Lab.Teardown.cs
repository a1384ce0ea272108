using OmniStore.Lab.Internal;

namespace OmniStore.Lab;

public sealed partial class Lab
{
    /// <summary>Runs the teardown once; every later call (dispose, signal, process exit) waits for the same one.</summary>
    private Task TeardownOnce()
    {
        lock (_lock)
        {
            // On the thread pool: never under this lock, and never on a caller's synchronization context (Dispose blocks on it).
            return _teardown ??= Task.Run(TeardownAsync);
        }
    }

    internal void TeardownForExit(TimeSpan timeout)
    {
        try
        {
            TeardownOnce().Wait(timeout);
        }
        catch (AggregateException)
        {
            // Exiting anyway; whatever is left, clean-up removes.
        }
    }

    /// <summary>
    /// Processes first (the lab's, miniupnpd included, then anything else still inside its
    /// namespaces), then in-process responders, then the wire (which deletes its devices as it
    /// exits), then the namespaces, which take their veths, routes, qdiscs and nftables rules with
    /// them, then the run's directories (miniupnpd's configuration and leases). Each step goes on
    /// even if one before it failed.
    /// </summary>
    private async Task TeardownAsync()
    {
        List<LabProcess> processes;
        List<string> namespaces;
        List<IAsyncDisposable> services;
        List<string> directories;
        lock (_lock)
        {
            processes = [.. _processes];
            namespaces = [.. _namespaces];
            services = [.. _services];
            directories = [.. _directories];
        }

        var failures = new List<Exception>();
        foreach (var process in processes)
        {
            await process.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var ns in namespaces)
        {
            await Try(() => KillProcessesInAsync(ns)).ConfigureAwait(false);
        }

        foreach (var service in services)
        {
            await service.DisposeAsync().ConfigureAwait(false);
        }

        if (_wire is { } wire)
        {
            await wire.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var ns in namespaces)
        {
            await Try(() => DeleteNamespaceAsync(ns)).ConfigureAwait(false);
        }

        foreach (var directory in directories)
        {
            await Try(() =>
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }

                return Task.CompletedTask;
            }).ConfigureAwait(false);
        }

        await Try(() =>
        {
            if (File.Exists(RunMarker.PathOf(Prefix)))
            {
                RunMarker.Delete(Prefix);
            }

            return Task.CompletedTask;
        }).ConfigureAwait(false);
        LabRegistry.Remove(this);
        if (failures.Count > 0)
        {
            throw new LabException($"Tearing down lab {Prefix} left something behind (run the lab's clean command): {failures[0].Message}", new AggregateException(failures));
        }

        async Task Try(Func<Task> step)
        {
            try
            {
                await step().ConfigureAwait(false);
            }
            catch (Exception e) when (e is LabException or IOException or UnauthorizedAccessException)
            {
                failures.Add(e);
            }
        }
    }

    /// <summary>Kills every process whose network namespace is <paramref name="ns"/>: they were started inside the lab.</summary>
    internal static async Task<IReadOnlyList<int>> KillProcessesInAsync(string ns)
    {
        var killed = new List<int>();
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var result = await CommandRunner.RunAsync("ip", ["netns", "pids", ns]).ConfigureAwait(false);
            var pids = result.ExitCode == 0
                ? result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).Where(p => p != Environment.ProcessId).ToArray()
                : [];
            if (pids.Length == 0)
            {
                return killed;
            }

            foreach (var pid in pids)
            {
                if (Libc.Kill(pid, 9) == 0)
                {
                    killed.Add(pid);
                }
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new LabException($"Processes in {ns} survived SIGKILL.");
    }

    internal static async Task DeleteNamespaceAsync(string ns)
    {
        if (!NetworkNamespace.Exists(ns))
        {
            return;
        }

        var result = await CommandRunner.RunAsync("ip", ["netns", "del", ns]).ConfigureAwait(false);
        if (result.ExitCode != 0 && NetworkNamespace.Exists(ns))
        {
            throw new LabException($"exit status {result.ExitCode}", $"ip netns del {ns}", result.StandardError);
        }
    }
}
