using System.Diagnostics;
using OmniStore.Lab.Internal;

namespace OmniStore.Lab;

/// <summary>
/// A process started inside a lab namespace. The lab kills it (and its children) when the lab is
/// disposed, if it still runs; disposing it first kills it sooner.
/// </summary>
public sealed class LabProcess : IAsyncDisposable, IDisposable
{
    private int _disposed;

    internal LabProcess(Process process, string ns)
    {
        Process = process;
        Namespace = ns;
    }

    /// <summary>The process (<c>ip netns exec</c> replaces itself with the program, so this is the program). Its streams are redirected as the start info asked.</summary>
    public Process Process { get; }

    /// <summary>The process id.</summary>
    public int Id => Process.Id;

    /// <summary>The network namespace it runs in.</summary>
    public string Namespace { get; }

    /// <summary>True once it has exited.</summary>
    public bool HasExited => Process.HasExited;

    /// <summary>Waits for it to exit.</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => Process.WaitForExitAsync(cancellationToken);

    /// <summary>Kills it and its children, if it still runs.</summary>
    public void Kill() => CommandRunner.KillQuietly(Process);

    /// <summary>Kills it if it still runs and releases it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Kill();
        Process.Dispose();
    }

    /// <summary>Kills it if it still runs, waits (briefly) for it to go, and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        Kill();
        try
        {
            await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            // Killed with SIGKILL: it goes; nothing more to wait for here.
        }

        Dispose();
    }
}
