using System.Diagnostics;
using System.Globalization;
using System.Text;
using OmniStore.Lab.Wire;

namespace OmniStore.Lab.Internal;

/// <summary>
/// The lab's side of the wire process (<see cref="WireHost"/>): starts it, sends it commands through
/// its standard input and stops it by closing that input. The wire runs on the same dotnet host and
/// runtime as the lab, from the lab's own assembly.
/// </summary>
internal sealed class WireProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly Process _process;
    private readonly SemaphoreSlim _commandLock = new(1, 1);
    private readonly StringBuilder _standardError = new();
    private int _stopped;

    private WireProcess(Process process)
    {
        _process = process;
    }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <param name="tag">The run prefix: it stands on the wire's command line, where clean-up looks for it.</param>
    /// <param name="links">Per link, the namespace and device name of its site end and of its core end.</param>
    /// <param name="cancellationToken">Stops waiting for the wire to report ready (and stops it).</param>
    public static async Task<WireProcess> StartAsync(string tag, IReadOnlyList<(string SiteNamespace, string SiteDevice, string CoreNamespace, string CoreDevice)> links, CancellationToken cancellationToken)
    {
        // Compiled ahead of time (the omnistore executable), the lab is part of the running program,
        // which runs the wire itself: there is no lab assembly on disk. Otherwise the wire is the
        // lab assembly run by the dotnet host. (RuntimeFeature.IsDynamicCodeSupported cannot tell:
        // a project that publishes with NativeAOT turns it off in JIT runs too.)
        bool selfHosted = !File.Exists(LabAssemblyPath);
        var start = new ProcessStartInfo(selfHosted ? Environment.ProcessPath ?? throw new LabException("The path of this program is unknown.") : DotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (!selfHosted)
        {
            start.ArgumentList.Add("exec");
            if (RuntimeConfig() is { } runtimeConfig)
            {
                start.ArgumentList.Add("--runtimeconfig");
                start.ArgumentList.Add(runtimeConfig);
            }

            start.ArgumentList.Add(LabAssemblyPath);
        }

        start.ArgumentList.Add(WireHost.Mode);
        start.ArgumentList.Add("--tag");
        start.ArgumentList.Add(tag);
        foreach (var (siteNamespace, siteDevice, coreNamespace, coreDevice) in links)
        {
            start.ArgumentList.Add($"{siteNamespace}:{siteDevice}");
            start.ArgumentList.Add($"{coreNamespace}:{coreDevice}");
        }

        // Tiered compilation would run the first packets through unoptimized code; the pumps are small.
        start.Environment["DOTNET_TieredPGO"] = "0";
        start.Environment["DOTNET_TC_QuickJitForLoops"] = "0";

        var process = new Process { StartInfo = start };
        var wire = new WireProcess(process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lock (wire._standardError)
                {
                    wire._standardError.AppendLine(line);
                }
            }
        };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new LabException($"Could not start the wire ({start.FileName} {string.Join(' ', start.ArgumentList)})", e);
        }

        process.BeginErrorReadLine();
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(StartTimeout);
            var line = await process.StandardOutput.ReadLineAsync(deadline.Token).ConfigureAwait(false);
            if (line != WireHost.ReadyLine)
            {
                await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
                throw new LabException($"The wire did not start (exit status {process.ExitCode}; {start.FileName} {string.Join(' ', start.ArgumentList)}): {wire.StandardError()}");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await wire.DisposeAsync().ConfigureAwait(false);
            throw new LabException($"The wire did not report ready within {StartTimeout}: {wire.StandardError()}");
        }
        catch
        {
            await wire.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return wire;
    }

    /// <summary>Sets what one direction of a link does to its packets, effective for the next packet.</summary>
    public Task SetAsync(int link, bool up, WanLinkSpec spec, ulong seed, CancellationToken cancellationToken) =>
        CommandAsync(
            string.Create(
                CultureInfo.InvariantCulture,
                $"set {link} {(up ? "up" : "down")} {Nanoseconds(spec.Delay)} {Nanoseconds(spec.Jitter)} {spec.Loss:R} {spec.Duplicate:R} {spec.Reorder:R} {Nanoseconds(spec.ReorderDelay)} {seed}"),
            cancellationToken);

    private static long Nanoseconds(TimeSpan time) => time.Ticks * 100;

    /// <summary>Per direction of each link: packets forwarded, lost, duplicated, held back for reordering, dropped on a full queue, failed writes.</summary>
    public async Task<IReadOnlyList<string>> StatisticsAsync(CancellationToken cancellationToken) =>
        await CommandAsync("stats", cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            // End of input is the wire's signal to close its devices and exit.
            _process.StandardInput.Close();
            using var deadline = new CancellationTokenSource(StopTimeout);
            await _process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            CommandRunner.KillQuietly(_process);
        }

        _process.Dispose();
        _commandLock.Dispose();
    }

    private async Task<IReadOnlyList<string>> CommandAsync(string command, CancellationToken cancellationToken)
    {
        await _commandLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(CommandTimeout);
            await _process.StandardInput.WriteLineAsync(command.AsMemory(), deadline.Token).ConfigureAwait(false);
            await _process.StandardInput.FlushAsync(deadline.Token).ConfigureAwait(false);
            var lines = new List<string>();
            while (true)
            {
                var line = await _process.StandardOutput.ReadLineAsync(deadline.Token).ConfigureAwait(false)
                    ?? throw new LabException($"The wire exited: {StandardError()}");
                if (line == "ok")
                {
                    return lines;
                }

                if (line.StartsWith("error ", StringComparison.Ordinal))
                {
                    throw new LabException($"The wire refused '{command}': {line[6..]}");
                }

                lines.Add(line);
            }
        }
        catch (IOException e)
        {
            throw new LabException($"The wire is gone: {StandardError()}", e);
        }
        finally
        {
            _commandLock.Release();
        }
    }

    private string StandardError()
    {
        lock (_standardError)
        {
            return _standardError.ToString().Trim();
        }
    }

    // The lab assembly, next to the app that runs it (the CLI, the lab itself, a test host).
    private static string LabAssemblyPath => Path.Combine(AppContext.BaseDirectory, typeof(WireProcess).Assembly.GetName().Name + ".dll");

    /// <summary>The lab assembly's runtimeconfig when it was built as its own app, else the running app's (same runtime).</summary>
    private static string? RuntimeConfig()
    {
        var own = Path.ChangeExtension(LabAssemblyPath, ".runtimeconfig.json");
        if (File.Exists(own))
        {
            return own;
        }

        var entry = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name;
        var entryConfig = entry is null ? null : Path.Combine(AppContext.BaseDirectory, entry + ".runtimeconfig.json");
        return entryConfig is not null && File.Exists(entryConfig) ? entryConfig : null;
    }

    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } fromEnvironment && File.Exists(fromEnvironment))
        {
            return fromEnvironment;
        }

        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }

        return "dotnet";
    }
}
