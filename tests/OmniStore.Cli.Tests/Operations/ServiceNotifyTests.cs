using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Operations;

/// <summary>
/// The daemon under a service manager (deploy/systemd, docs/operations.md "Under systemd"): with
/// <c>$NOTIFY_SOCKET</c> it sends <c>READY=1</c> once it listens, <c>WATCHDOG=1</c> at half of
/// <c>$WATCHDOG_USEC</c>, and <c>STOPPING=1</c> when SIGTERM starts its drain. Checked on a Unix
/// datagram socket of the test's own, as systemd's; and under systemd-run where systemd runs.
/// </summary>
public sealed class ServiceNotifyTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task UnderANotifySocket_TheDaemonSaysReadyOnceListening_PingsTheWatchdog_AndSaysStopping()
    {
        string path = Path.Combine(Path.GetTempPath(), $"omnistore-notify-{Guid.NewGuid():N}.sock");
        using var socket = Listen(path);
        try
        {
            await using var root = await DaemonProcess.StartAsync(_dir.Sub("data"), Environment(path, watchdogMicroseconds: 200_000), "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("root"));

            string ready = await ReceiveAsync(socket);
            var fields = ready.Split('\n');
            Assert.Equal("READY=1", fields[0]);
            Assert.Contains($"STATUS=root {NodeId(root)} listening on {root.Address}", fields);
            Assert.Contains($"MAINPID={root.ProcessId}", fields);
            Assert.Contains("listening on", root.StandardOutput, StringComparison.Ordinal); // printed before READY
            Assert.Equal("WATCHDOG=1", await ReceiveAsync(socket));
            Assert.Equal("WATCHDOG=1", await ReceiveAsync(socket));

            var stopping = Task.Run(async () =>
            {
                while (true)
                {
                    string message = await ReceiveAsync(socket);
                    if (message != "WATCHDOG=1")
                    {
                        return message;
                    }
                }
            });
            Assert.Equal(0, await root.TerminateAsync());
            Assert.Equal("STOPPING=1\nSTATUS=SIGTERM received: draining", await stopping);
            Assert.Contains("[4007] Told the service manager: READY=1", root.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task AnAbstractNotifySocket_IsNamedWithAnAt()
    {
        string name = $"omnistore-notify-{Guid.NewGuid():N}";
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint("\0" + name));

        await using var root = await DaemonProcess.StartAsync(_dir.Sub("data"), Environment("@" + name, watchdogMicroseconds: null), "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("root"));

        Assert.StartsWith("READY=1\n", await ReceiveAsync(socket), StringComparison.Ordinal);
        Assert.Equal(0, await root.TerminateAsync());
        Assert.StartsWith("STOPPING=1\n", await ReceiveAsync(socket), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWatchdogForAnotherProcess_IsNotPinged()
    {
        string path = Path.Combine(Path.GetTempPath(), $"omnistore-notify-{Guid.NewGuid():N}.sock");
        using var socket = Listen(path);
        try
        {
            var environment = Environment(path, watchdogMicroseconds: 100_000);
            environment["WATCHDOG_PID"] = "1";
            await using var root = await DaemonProcess.StartAsync(_dir.Sub("data"), environment, "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("root"));

            Assert.StartsWith("READY=1\n", await ReceiveAsync(socket), StringComparison.Ordinal);
            await Task.Delay(500, TestContext.Current.CancellationToken);
            Assert.Equal(0, await root.TerminateAsync());
            Assert.StartsWith("STOPPING=1\n", await ReceiveAsync(socket), StringComparison.Ordinal); // the next message: no ping between
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task UnderSystemdRun_ANotifyServiceBecomesActive_AndStopsCleanly()
    {
        // "If systemd is present": a container or a machine booted without it skips, under CI too.
        Assert.SkipUnless(await SystemdRunsAsync(), "systemd is not running here (systemctl is-system-running), so systemd-run cannot start a service; the notify protocol is checked on a socket of the test's own above.");

        string unit = $"omnistore-test-{Guid.NewGuid():N}";
        string cli = Path.Combine(AppContext.BaseDirectory, "OmniStore.Cli.dll");
        string dotnet = System.Environment.ProcessPath ?? "dotnet";
        var start = await RunAsync("systemd-run", "--unit", unit, "--property", "Type=notify", "--property", "NotifyAccess=main", "--property", "WatchdogSec=10", "--setenv", "NO_COLOR=1", dotnet, cli, "relay", "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("root"));
        try
        {
            // systemd-run returns once the unit started: for Type=notify, once READY=1 arrived.
            Assert.True(start.ExitCode == 0, start.Output);
            var active = await RunAsync("systemctl", "is-active", unit);
            Assert.Equal("active", active.Output.Trim());
        }
        finally
        {
            await RunAsync("systemctl", "stop", unit);
        }

        var result = await RunAsync("systemctl", "show", unit, "--property", "Result", "--property", "ExecMainStatus");
        Assert.Contains("Result=success", result.Output, StringComparison.Ordinal);
    }

    private static Dictionary<string, string?> Environment(string socket, int? watchdogMicroseconds)
    {
        var environment = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = socket, ["WATCHDOG_PID"] = null, ["WATCHDOG_USEC"] = null };
        if (watchdogMicroseconds is { } microseconds)
        {
            environment["WATCHDOG_USEC"] = microseconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return environment;
    }

    private static Socket Listen(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return socket;
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Timeout);
        int length = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    private static string NodeId(DaemonProcess node) =>
        node.StandardOutput.Split('\n').Single(l => l.StartsWith("node id ", StringComparison.Ordinal))["node id ".Length..].Trim();

    private static async Task<bool> SystemdRunsAsync()
    {
        if (!File.Exists("/usr/bin/systemd-run") && !File.Exists("/bin/systemd-run"))
        {
            return false;
        }

        var state = await RunAsync("systemctl", "is-system-running");
        return state.Output.Trim() is "running" or "degraded";
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Timeout);
            return (process.ExitCode, await output + await error);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
