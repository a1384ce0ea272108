using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;

namespace OmniStore.Cli.Bench;

/// <summary>
/// One process of a staging run: its stdout as lines to wait on, the tail of its stderr for error
/// messages, a stdin to say "go", and its CPU time from /proc. Disposing kills it (by its own id)
/// if it is still running.
/// </summary>
internal sealed class StagedProcess : IAsyncDisposable
{
    private const int StderrLinesKept = 40;
    private readonly Process _process;
    private readonly Channel<string> _stdout = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Queue<string> _stderrTail = new();
    private readonly List<(string Text, TaskCompletionSource Seen)> _stderrWaits = [];
    private readonly Lock _lock = new();
    private readonly StreamWriter? _stderrLog;

    public StagedProcess(string label, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        Label = label;
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["NO_COLOR"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        // OMNISTORE_BENCH_LOGS=DIR keeps every process's whole stderr (DIR/LABEL.log), for a run
        // whose failure needs more than the tail kept for its message.
        if (Environment.GetEnvironmentVariable("OMNISTORE_BENCH_LOGS") is { Length: > 0 } logs)
        {
            Directory.CreateDirectory(logs);
            string file = string.Concat(label.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')) + ".log";
            _stderrLog = new StreamWriter(Path.Combine(logs, file), append: true) { AutoFlush = true };
        }

        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stdout.Writer.TryComplete();
            }
            else
            {
                _stdout.Writer.TryWrite(e.Data);
            }
        };
        _process.ErrorDataReceived += (_, e) => OnStderr(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>What the process is, for messages ("relay of site 1").</summary>
    public string Label { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The last lines of stderr, for an error message.</summary>
    public string StderrTail
    {
        get
        {
            lock (_lock)
            {
                return string.Join(Environment.NewLine, _stderrTail);
            }
        }
    }

    /// <summary>The next stdout line that satisfies <paramref name="match"/>; fails when the process ends or the time is up.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await foreach (string line in _stdout.Reader.ReadAllAsync(deadline.Token).ConfigureAwait(false))
            {
                if (match(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Failure($"did not answer within {timeout.TotalSeconds:0} s");
        }

        await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        throw Failure($"exited with status {_process.ExitCode}");
    }

    /// <summary>Waits until stderr shows a line containing <paramref name="text"/>.</summary>
    public async Task WaitForStderrAsync(string text, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_stderrTail.Any(line => line.Contains(text, StringComparison.Ordinal)))
            {
                return;
            }

            _stderrWaits.Add((text, seen));
        }

        var exited = _process.WaitForExitAsync(cancellationToken);
        var first = await Task.WhenAny(seen.Task, exited, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (first != seen.Task)
        {
            throw Failure(first == exited ? $"exited with status {_process.ExitCode}" : $"did not log \"{text}\" within {timeout.TotalSeconds:0} s");
        }
    }

    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>The process's user plus system CPU time so far (Linux /proc; zero once it is gone).</summary>
    public TimeSpan CpuTime()
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{_process.Id}/stat");
            // Fields after the command name, which is in parentheses and may hold spaces.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / (double)ClockTicksPerSecond);
        }
        catch (IOException)
        {
            return TimeSpan.Zero;
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Failure($"did not exit within {timeout.TotalSeconds:0} s");
        }

        return _process.ExitCode;
    }

    public Exception Failure(string what)
    {
        string tail = StderrTail;
        return new InvalidOperationException($"{Label} (pid {_process.Id}) {what}." + (tail.Length > 0 ? $" Its last messages:{Environment.NewLine}{tail}" : string.Empty));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
        }

        _process.Dispose();
        lock (_lock)
        {
            _stderrLog?.Dispose();
        }
    }

    private void OnStderr(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _stderrLog?.WriteLine(line);
            _stderrTail.Enqueue(line);
            if (_stderrTail.Count > StderrLinesKept)
            {
                _stderrTail.Dequeue();
            }

            for (int i = _stderrWaits.Count - 1; i >= 0; i--)
            {
                if (line.Contains(_stderrWaits[i].Text, StringComparison.Ordinal))
                {
                    _stderrWaits[i].Seen.TrySetResult();
                    _stderrWaits.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>USER_HZ: 100 on every Linux architecture .NET runs on.</summary>
    private const int ClockTicksPerSecond = 100;
}
