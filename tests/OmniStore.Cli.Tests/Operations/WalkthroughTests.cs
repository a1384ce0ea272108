using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Operations;

/// <summary>
/// docs/operations.md, "A root and two relays under systemd", works as written: the blocks that
/// need no systemd run in bash, in order, with <c>omnistore</c> this build and the walkthrough's
/// folders and ports moved to ones of the test's own; the blocks that need systemd use the units
/// under deploy/systemd, whose command lines accept the configuration files the walkthrough writes.
/// </summary>
public sealed partial class WalkthroughTests : IDisposable
{
    private const string Section = "## A root and two relays under systemd";
    private static readonly int[] Ports = [7070, 7071, 7072, 9100, 9101, 9102];
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private readonly TempDirectory _dir = new("omnistore-walk");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task TheWalkthrough_WithoutSystemd_StartsARootAndTwoRelays_ThatAreReady_AndServe()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the walkthrough is for Linux (bash, systemd)");
        var moved = FreePorts();
        string script = Move(string.Join("\n", Blocks("run")), moved);
        string bin = _dir.Sub("bin");
        Directory.CreateDirectory(bin);
        string wrapper = Path.Combine(bin, "omnistore");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec '{CliRunner.StartInfo([], "unused").FileName}' '{Path.Combine(AppContext.BaseDirectory, "OmniStore.Cli.dll")}' \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }


        // Stop what the script started if it stops early; fail on the first command that fails.
        string prologue = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n";
        var result = await RunBashAsync(prologue + script, bin);

        string shown = $"exit {result.ExitCode}\n--- script\n{script}\n--- output\n{result.Output}";
        Assert.True(result.ExitCode == 0, shown);
        Assert.Contains("ready: root, store open\n", result.Output, StringComparison.Ordinal);
        Assert.True(Regex.Count(result.Output, $@"^ready: relay, store open, parent tcp://127\.0\.0\.1:{moved[7070]} connected$", RegexOptions.Multiline) >= 2, shown);
        Assert.Matches($@"(?m)^relay [0-9a-f]{{32}} at site cluster-a, listening on tcp://127\.0\.0\.1:{moved[7071]}$", result.Output);
        Assert.Contains("\nhello, tree\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("# file: ", result.Output, StringComparison.Ordinal); // config show
        foreach (string node in new[] { "root", "relay-a", "relay-b" })
        {
            string log = File.ReadAllText(Path.Combine(_dir.Path, "var", $"{node}.log"));
            Assert.Contains("[4002] Stopped; the store is checkpointed", log, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TheSystemdSteps_InstallTheUnitsUnderDeploy_WhoseCommandsTakeTheWalkthroughsFiles()
    {
        string systemd = string.Join("\n", Blocks("systemd"));
        string run = string.Join("\n", Blocks("run"));

        foreach (Match path in DeployPath().Matches(systemd))
        {
            Assert.True(File.Exists(RepositoryFiles.PathOf(path.Value)), $"the walkthrough installs {path.Value}, which is not in the tree");
        }

        var written = ConfigFile().Matches(run).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var units = EnabledUnit().Matches(systemd).Select(m => m.Value).Distinct().ToList();
        Assert.Equal(["omnistore-root.service", "omnistore-relay@a.service", "omnistore-relay@b.service"], units);
        foreach (string unit in units)
        {
            string instance = unit.Contains('@', StringComparison.Ordinal) ? unit[(unit.IndexOf('@', StringComparison.Ordinal) + 1)..unit.IndexOf('.', StringComparison.Ordinal)] : "";
            string template = instance.Length > 0 ? unit.Replace("@" + instance, "@", StringComparison.Ordinal) : unit;
            string execStart = RepositoryFiles.Read($"deploy/systemd/{template}").Split('\n').Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal))["ExecStart=".Length..];
            string[] command = [.. execStart.Replace("%i", instance, StringComparison.Ordinal).Replace("%S", "/var/lib", StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries)];
            string config = command[Array.IndexOf(command, "--config") + 1];
            Assert.True(written.ContainsKey(config), $"{unit} reads {config}, which the walkthrough does not write");

            // The file as the walkthrough writes it, in a folder of the test's own: the unit's command line takes it.
            string folder = _dir.Sub(instance.Length > 0 ? instance : "root");
            Directory.CreateDirectory(folder);
            string file = Path.Combine(folder, Path.GetFileName(config));
            File.WriteAllText(file, written[config]);
            var parsed = RelayParse.Parse(null, [.. command.Skip(1).Select(a => a == config ? file : a)]);
            Assert.True(parsed.Errors.Count == 0, $"{unit}: {RelayParse.Errors(parsed)}");
        }
    }

    /// <summary>The shell blocks of the walkthrough marked <c>&lt;!-- walkthrough: KIND --&gt;</c>, in order.</summary>
    private static List<string> Blocks(string kind)
    {
        string operations = RepositoryFiles.Read("docs/operations.md");
        int start = operations.IndexOf("\n" + Section + "\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"docs/operations.md has no section '{Section}'");
        int end = operations.IndexOf("\n## ", start + Section.Length + 2, StringComparison.Ordinal);
        string section = operations[start..(end < 0 ? operations.Length : end)];
        var blocks = MarkedBlock().Matches(section).Where(m => m.Groups[1].Value == kind).Select(m => m.Groups[2].Value).ToList();
        Assert.NotEmpty(blocks);
        return blocks;
    }

    /// <summary>The walkthrough's folders and ports, moved to the test's own.</summary>
    private string Move(string script, Dictionary<int, int> ports)
    {
        script = script.Replace("/etc/omnistore", Path.Combine(_dir.Path, "etc"), StringComparison.Ordinal)
            .Replace("/var/lib/omnistore", Path.Combine(_dir.Path, "var"), StringComparison.Ordinal);
        foreach (var (from, to) in ports)
        {
            script = script.Replace($"127.0.0.1:{from}", $"127.0.0.1:{to}", StringComparison.Ordinal);
        }

        return script;
    }

    private async Task<(int ExitCode, string Output)> RunBashAsync(string script, string bin)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir.Path };
        foreach (string name in start.Environment.Keys.Where(n => n.StartsWith("OMNISTORE_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["PATH"] = $"{bin}:{start.Environment["PATH"]}";
        start.Environment["NO_COLOR"] = "1";
        start.Environment["OMNISTORE_DATA"] = _dir.Sub("client-data");
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var reading = Task.WhenAll(Copy(process.StandardOutput), Copy(process.StandardError));
        await process.StandardInput.WriteAsync(script);
        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Timeout);
            await reading.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the walkthrough did not finish within {Timeout}; killed it. Output so far:\n{output}");
        }

        return (process.ExitCode, output.ToString());

        async Task Copy(StreamReader reader)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (output)
                {
                    output.Append(line).Append('\n');
                }
            }
        }
    }

    /// <summary>For each of the walkthrough's ports, a loopback port free now (all bound at once, then released); its daemons bind them a moment later.</summary>
    private static Dictionary<int, int> FreePorts()
    {
        var sockets = Ports.Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToList();
        try
        {
            var moved = new Dictionary<int, int>();
            foreach (var (port, socket) in Ports.Zip(sockets))
            {
                socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                moved[port] = ((IPEndPoint)socket.LocalEndPoint!).Port;
            }

            return moved;
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [GeneratedRegex(@"<!-- walkthrough: (\w+) -->\n```sh\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex MarkedBlock();

    [GeneratedRegex(@"deploy/[\w./@-]+")]
    private static partial Regex DeployPath();

    [GeneratedRegex(@"cat > (/etc/omnistore/[\w.-]+\.toml) <<'EOF'\n(.*?)\nEOF\n", RegexOptions.Singleline)]
    private static partial Regex ConfigFile();

    [GeneratedRegex(@"omnistore-(root|relay@[a-z]+)\.service")]
    private static partial Regex EnabledUnit();
}
