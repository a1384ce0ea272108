using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>
/// An <c>omnistore relay</c> daemon running as a child process. Started with port 0, it is ready
/// once it printed <c>listening on tcp://...</c> (and <c>status on http://...</c> when asked
/// for). Disposing kills it (and only it, with its process tree) if a test left it running.
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly List<string> _addresses = [];
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _status = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private DaemonProcess(Process process) => _process = process;

    /// <summary>The node's address, as it printed it: the first <c>listening on</c> line.</summary>
    public string Address { get; private set; } = "";

    /// <summary>
    /// Every address the node printed a <c>listening on</c> line for, so far. Complete once the
    /// daemon is ready when it was started with <c>--status-listen</c>, whose line comes after them.
    /// </summary>
    public IReadOnlyList<string> Addresses
    {
        get
        {
            lock (_addresses)
            {
                return [.. _addresses];
            }
        }
    }

    /// <summary>The status listener's address, when it was started with <c>--status-listen</c>.</summary>
    public string? StatusUrl { get; private set; }

    public int ProcessId => _process.Id;

    public string StandardOutput
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts <c>omnistore relay</c> with <paramref name="args"/> and waits until it listens.</summary>
    public static Task<DaemonProcess> StartAsync(string dataDirectory, params string[] args) => StartAsync(dataDirectory, null, args);

    /// <summary>Starts <c>omnistore relay</c> with <paramref name="args"/> and <paramref name="environment"/> (see <see cref="CliRunner.StartInfo"/>), and waits until it listens.</summary>
    public static Task<DaemonProcess> StartAsync(string dataDirectory, IReadOnlyDictionary<string, string?>? environment, params string[] args) =>
        StartAsync(CliRunner.StartInfo(["relay", .. args], dataDirectory, environment), args);
    /// <summary>
    /// Starts <c>omnistore relay</c> with <paramref name="args"/> under a descriptor limit (soft and
    /// hard, as <c>ulimit -n</c> sets them; the shell then execs the daemon, so the process id stays
    /// the daemon's) and waits until it listens.
    /// </summary>
    public static Task<DaemonProcess> StartWithDescriptorLimitAsync(int softLimit, int hardLimit, string dataDirectory, params string[] args) =>
        StartWithDescriptorLimitAsync(softLimit, hardLimit, dataDirectory, null, args);

    /// <summary>As above, with <paramref name="environment"/> (see <see cref="CliRunner.StartInfo"/>).</summary>
    public static Task<DaemonProcess> StartWithDescriptorLimitAsync(int softLimit, int hardLimit, string dataDirectory, IReadOnlyDictionary<string, string?>? environment, params string[] args)
    {
        var inner = CliRunner.StartInfo(["relay", .. args], dataDirectory, environment);
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(string.Create(CultureInfo.InvariantCulture, $"ulimit -Sn {softLimit} && ulimit -Hn {hardLimit} && exec \"$@\""));
        start.ArgumentList.Add("omnistore-relay");
        start.ArgumentList.Add(inner.FileName);
        foreach (var arg in inner.ArgumentList)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Clear();
        foreach (var (name, value) in inner.Environment)
        {
            start.Environment[name] = value;
        }

        return StartAsync(start, args);
    }

    /// <summary>Starts <c>omnistore COMMAND</c> (<c>relay</c>, <c>rendezvous</c>) with <paramref name="args"/>, and waits until it listens.</summary>
    public static Task<DaemonProcess> StartCommandAsync(string dataDirectory, string command, params string[] args) =>
        StartAsync(CliRunner.StartInfo([command, .. args], dataDirectory), args);

    /// <summary>
    /// Starts <c>omnistore COMMAND</c> (<c>relay</c>, <c>rendezvous</c>) inside the network namespace
    /// <paramref name="networkNamespace"/> (a lab site's: <c>ip netns exec</c>), and waits until it listens.
    /// </summary>
    public static Task<DaemonProcess> StartInNamespaceAsync(string networkNamespace, string dataDirectory, string command, params string[] args)
    {
        var inner = CliRunner.StartInfo([command, .. args], dataDirectory);
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["netns", "exec", networkNamespace, inner.FileName, .. inner.ArgumentList])
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Clear();
        foreach (var (name, value) in inner.Environment)
        {
            start.Environment[name] = value;
        }

        return StartAsync(start, args);
    }

    private static async Task<DaemonProcess> StartAsync(ProcessStartInfo start, string[] args)
    {
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var daemon = new DaemonProcess(process);
        process.OutputDataReceived += (_, e) => daemon.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => daemon.OnError(e.Data);
        Assert.True(process.Start(), "omnistore relay did not start");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        bool wantsStatus = args.Contains("--status-listen");
        try
        {
            var ready = wantsStatus ? Task.WhenAll(daemon._listening.Task, daemon._status.Task) : (Task)daemon._listening.Task;
            var exited = process.WaitForExitAsync();
            if (await Task.WhenAny(ready, exited).WaitAsync(StartTimeout) != ready)
            {
                await daemon._outputClosed.Task.WaitAsync(StopTimeout);
                await daemon._errorClosed.Task.WaitAsync(StopTimeout);
                Assert.Fail($"omnistore relay {string.Join(' ', args)} exited with {process.ExitCode} before it listened; stderr: {daemon.StandardError}");
            }

            daemon.Address = await daemon._listening.Task;
            daemon.StatusUrl = wantsStatus ? await daemon._status.Task : null;
            return daemon;
        }
        catch (TimeoutException)
        {
            await daemon.DisposeAsync();
            Assert.Fail($"omnistore relay {string.Join(' ', args)} did not print its address within {StartTimeout}; killed it. stderr: {daemon.StandardError}");
            throw;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends SIGTERM and waits for the daemon to exit; returns its exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", ProcessId.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().WaitAsync(StopTimeout);
            Assert.Equal(0, kill.ExitCode);
        }

        try
        {
            await _process.WaitForExitAsync().WaitAsync(StopTimeout);
        }
        catch (TimeoutException)
        {
            await DisposeAsync();
            Assert.Fail($"the daemon did not exit within {StopTimeout} of SIGTERM; killed it. stderr: {StandardError}");
        }

        // Exited: the output pipes close right after; wait for the last lines.
        await _outputClosed.Task.WaitAsync(StopTimeout);
        await _errorClosed.Task.WaitAsync(StopTimeout);
        return _process.ExitCode;
    }

    /// <summary>
    /// Kills the daemon with SIGKILL, as a crash or the OOM killer would: no signal handler, no final
    /// checkpoint. Only its own process id; waits for it to exit and its output to close.
    /// </summary>
    public async Task KillAsync()
    {
        using (var kill = Process.Start("kill", ["-KILL", ProcessId.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().WaitAsync(StopTimeout);
            Assert.Equal(0, kill.ExitCode);
        }

        await _process.WaitForExitAsync().WaitAsync(StopTimeout);
        await _outputClosed.Task.WaitAsync(StopTimeout);
        await _errorClosed.Task.WaitAsync(StopTimeout);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(StopTimeout);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started, or already gone.
        }
        finally
        {
            _process.Dispose();
        }
    }

    public override string ToString() => $"omnistore relay at {Address}; stdout: {StandardOutput}; stderr: {StandardError}";

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            _outputClosed.TrySetResult();
            return;
        }

        lock (_stdout)
        {
            _stdout.AppendLine(line);
        }

        if (line.StartsWith("listening on ", StringComparison.Ordinal))
        {
            string address = line["listening on ".Length..].Trim();
            lock (_addresses)
            {
                _addresses.Add(address);
            }

            _listening.TrySetResult(address);
        }
        else if (line.StartsWith("status on ", StringComparison.Ordinal))
        {
            _status.TrySetResult(line["status on ".Length..].Trim());
        }
    }

    private void OnError(string? line)
    {
        if (line is null)
        {
            _errorClosed.TrySetResult();
            return;
        }

        lock (_stderr)
        {
            _stderr.AppendLine(line);
        }
    }
}
