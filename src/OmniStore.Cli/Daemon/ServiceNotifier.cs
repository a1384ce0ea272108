using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace OmniStore.Cli.Daemon;

/// <summary>
/// The systemd notification protocol (sd_notify(3)), written out rather than linked to libsystemd:
/// one datagram per message to the Unix socket named by <c>$NOTIFY_SOCKET</c> (a path, or an
/// abstract name written with a leading <c>@</c>). The daemon sends <c>READY=1</c> once it listens
/// (and printed its addresses), <c>STOPPING=1</c> when a signal starts its shutdown, and, when
/// <c>$WATCHDOG_USEC</c> is set (and <c>$WATCHDOG_PID</c>, if set, is this process),
/// <c>WATCHDOG=1</c> every half of that interval: a process whose timers no longer run (a deadlock,
/// a starved thread pool) is then restarted by systemd. Without <c>$NOTIFY_SOCKET</c> it does nothing.
/// </summary>
internal sealed class ServiceNotifier : IAsyncDisposable
{
    public const string SocketVariable = "NOTIFY_SOCKET";
    public const string WatchdogVariable = "WATCHDOG_USEC";
    public const string WatchdogPidVariable = "WATCHDOG_PID";

    /// <summary>The longest message sent; systemd reads at most a page or so per datagram.</summary>
    private const int MaxMessageBytes = 4096;

    private readonly Socket _socket;
    private readonly UnixDomainSocketEndPoint _endPoint;
    private readonly string _name;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task? _watchdog;
    private int _failures;

    private ServiceNotifier(Socket socket, UnixDomainSocketEndPoint endPoint, string name, ILogger logger)
    {
        _socket = socket;
        _endPoint = endPoint;
        _name = name;
        _logger = logger;
    }

    /// <summary>The interval the watchdog pings at (half of <c>$WATCHDOG_USEC</c>); null without a watchdog.</summary>
    public TimeSpan? WatchdogInterval { get; private set; }

    /// <summary>A notifier for <c>$NOTIFY_SOCKET</c>, or null when the variable is not set (not run by systemd, or not as Type=notify).</summary>
    public static ServiceNotifier? FromEnvironment(ILogger logger)
    {
        string? name = Environment.GetEnvironmentVariable(SocketVariable);
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        if (!TryEndPoint(name, out var endPoint))
        {
            DaemonLog.ServiceNotifyFailed(logger, OmniStore.Internal.UntrustedText.Escape(name, 128), "not a Unix socket path (absolute, or @ and an abstract name)");
            return null;
        }

        // Non-blocking: a service manager that stopped reading must not hold up the daemon.
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified) { Blocking = false };
        var notifier = new ServiceNotifier(socket, endPoint, name, logger);
        notifier.WatchdogInterval = WatchdogFromEnvironment();
        return notifier;
    }

    /// <summary>
    /// The endpoint <c>$NOTIFY_SOCKET</c> names: an absolute path, or <c>@name</c> for a name in the
    /// abstract namespace (sd_notify(3); .NET writes an abstract name with a leading NUL).
    /// </summary>
    internal static bool TryEndPoint(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out UnixDomainSocketEndPoint? endPoint)
    {
        endPoint = null;
        if (name.Length < 2 || name.Length > 107 || name.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        if (name[0] == '@')
        {
            endPoint = new UnixDomainSocketEndPoint("\0" + name[1..]);
            return true;
        }

        if (name[0] == '/')
        {
            endPoint = new UnixDomainSocketEndPoint(name);
            return true;
        }

        return false;
    }

    /// <summary>Half of <c>$WATCHDOG_USEC</c> when it is set for this process, else null.</summary>
    private static TimeSpan? WatchdogFromEnvironment()
    {
        if (!long.TryParse(Environment.GetEnvironmentVariable(WatchdogVariable), NumberStyles.None, CultureInfo.InvariantCulture, out long microseconds) || microseconds <= 0)
        {
            return null;
        }

        if (Environment.GetEnvironmentVariable(WatchdogPidVariable) is { Length: > 0 } pid
            && (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out int forProcess) || forProcess != Environment.ProcessId))
        {
            return null; // the watchdog is another process's (a wrapper's)
        }

        // At least 1 ms, at most a day: a hostile or mistaken value neither spins nor overflows.
        return TimeSpan.FromMicroseconds(Math.Clamp(microseconds / 2, 1000, 86_400_000_000L));
    }

    /// <summary>READY=1, with a status line; starts the watchdog pings if systemd asked for them.</summary>
    public void Ready(string status)
    {
        Send($"READY=1\nSTATUS={OneLine(status)}\nMAINPID={Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        DaemonLog.ServiceNotified(_logger, "READY=1");
        if (WatchdogInterval is { } every && _watchdog is null)
        {
            _watchdog = Task.Run(() => WatchdogAsync(every));
        }
    }

    /// <summary>STOPPING=1, with a status line.</summary>
    public void Stopping(string status)
    {
        Send($"STOPPING=1\nSTATUS={OneLine(status)}");
        DaemonLog.ServiceNotified(_logger, "STOPPING=1");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_watchdog is not null)
        {
            await _watchdog.ConfigureAwait(false);
        }

        _socket.Dispose();
        _stop.Dispose();
    }

    private async Task WatchdogAsync(TimeSpan every)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                Send("WATCHDOG=1");
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private void Send(string message)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(message);
        if (bytes.Length > MaxMessageBytes)
        {
            bytes = bytes[..MaxMessageBytes];
        }

        try
        {
            _socket.SendTo(bytes, SocketFlags.None, _endPoint);
        }
        catch (SocketException ex)
        {
            // Said once: a service manager that went away is not worth a line every ping.
            if (Interlocked.Increment(ref _failures) == 1)
            {
                DaemonLog.ServiceNotifyFailed(_logger, OmniStore.Internal.UntrustedText.Escape(_name, 128), ex.Message);
            }
        }
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
