using System.Collections.Concurrent;
using System.CommandLine;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Commands;

/// <summary>
/// Every command and subcommand (enumerated from the command line itself, so that a new one is
/// covered without a new test) run with <c>--help</c>, with nothing, and with invalid arguments, for
/// a user whose HOME cannot hold the default store (service accounts, containers, nobody): every
/// run ends with an exit code from the table, a failure is one <c>omnistore: error:</c> line, no run
/// prints a stack trace, and none creates anything under HOME.
/// </summary>
public sealed class EveryCommandTests : IDisposable
{
    /// <summary>
    /// Commands that do their work when given nothing (a demo, a benchmark, a cleanup of the
    /// machine's network namespaces), so they are not run bare here. A new command that parses
    /// without arguments fails this test until it is listed, so that leaving it out is a decision.
    /// </summary>
    private static readonly string[] RunWithoutArguments = ["demo", "bench staging", "lab clean", "verify", "gc", "secret new", "ls"];

    private static readonly int[] DocumentedExitCodes = [ExitCode.Usage, ExitCode.IoFailure, .. Enum.GetValues<OmniStoreError>().Select(ExitCode.Of)];

    private readonly TempDirectory _dir = new();

    public enum Home
    {
        /// <summary>A path under a regular file: nothing can be created there, not even by root.</summary>
        UnderARegularFile,

        /// <summary>A path that does not exist.</summary>
        Missing,

        /// <summary>A directory with mode 0555 (root can still write there).</summary>
        ReadOnlyDirectory,

        /// <summary>No HOME at all.</summary>
        Unset,
    }

    public void Dispose()
    {
        if (!OperatingSystem.IsWindows() && Directory.Exists(_dir.Sub("home")))
        {
            File.SetUnixFileMode(_dir.Sub("home"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        _dir.Dispose();
    }

    [Theory]
    [InlineData(Home.UnderARegularFile)]
    [InlineData(Home.Missing)]
    [InlineData(Home.ReadOnlyDirectory)]
    [InlineData(Home.Unset)]
    public async Task EveryCommand_WithHelpNothingOrInvalidArguments_UnderAnUnusableHome_EndsWithADocumentedCodeAndAtMostOneErrorLine(Home home)
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "HOME and file modes are Unix notions");
        var environment = Environment(home);
        var runs = Runs().ToList();

        var results = new ConcurrentBag<(Run Run, CliResult Result)>();
        await Parallel.ForEachAsync(
            runs,
            new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = TestContext.Current.CancellationToken },
            async (run, _) => results.Add((run, await CliRunner.RunAsync(run.Args, "unused", timeout: TimeSpan.FromSeconds(60), environment: environment))));

        var problems = results.OrderBy(r => string.Join(' ', r.Run.Args), StringComparer.Ordinal).Select(r => Problems(r.Run, r.Result).ToList()).Where(p => p.Count > 0).ToList();
        Assert.True(problems.Count == 0, $"{problems.Count} of {runs.Count} runs misbehaved:\n{string.Join('\n', problems.Select(p => string.Join("; ", p)))}");

        // Nothing, help and usage errors need no store: none of them may create one.
        if (home is Home.Missing)
        {
            Assert.False(Path.Exists(environment["HOME"]), "a run created the missing HOME");
        }
        else if (home is Home.ReadOnlyDirectory)
        {
            Assert.Empty(Directory.EnumerateFileSystemEntries(environment["HOME"]!));
        }
    }

    [Fact]
    public void EveryCommandAndSubcommand_IsCovered()
    {
        var paths = Commands(OmniStoreCommandLine.Create(), []).Select(c => string.Join(' ', c.Path)).ToList();

        // The enumeration reaches nested and hidden commands too.
        Assert.Contains("", paths);
        Assert.Contains("put", paths);
        Assert.Contains("relay", paths);
        Assert.Contains("bench staging", paths);
        Assert.Contains("bench worker", paths);
        Assert.Contains("lab clean", paths);
        foreach (string listed in RunWithoutArguments)
        {
            Assert.Contains(listed, paths);
        }
    }

    [Fact]
    public async Task AStoreCommand_UnderAnUnusableHome_WorksWithStore()
    {
        var environment = Environment(Home.UnderARegularFile);
        string store = _dir.Sub("store");

        var put = await CliRunner.RunAsync(["put", "x", "-", "--store", store], "unused", stdin: [1, 2, 3], environment: environment);
        var get = await CliRunner.RunAsync(["get", "x", "--store", store], "unused", environment: environment);

        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal(new byte[] { 1, 2, 3 }, get.StandardOutput);
    }

    [Fact]
    public async Task AClientOfARelay_UnderAnUnusableHome_Works()
    {
        await using var root = await DaemonProcess.StartAsync(_dir.Sub("unused"), "--listen", "tcp://127.0.0.1:0", "--data-dir", _dir.Sub("root"));
        var environment = Environment(Home.UnderARegularFile);

        var put = await CliRunner.RunAsync(["put", "x", "-", "--relay", root.Address, "--quiet"], "unused", stdin: [4, 5], environment: environment);
        var get = await CliRunner.RunAsync(["get", "x", "--relay", root.Address], "unused", environment: environment);

        Assert.True(put.ExitCode == 0, put.ToString());
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal(new byte[] { 4, 5 }, get.StandardOutput);
    }

    [Theory]
    [InlineData("stat", "x")]
    [InlineData("put", "x", "-")]
    [InlineData("get", "x")]
    [InlineData("rm", "x")]
    [InlineData("ls")]
    [InlineData("wait", "x")]
    [InlineData("watch", "x")]
    [InlineData("rm", "--prefix", "x/")]
    public async Task AStoreCommand_WhoseDefaultStoreCannotBeCreated_FailsInOneLineNamingTheDirectoryAndTheOption(params string[] args)
    {
        var environment = Environment(Home.UnderARegularFile);

        var result = await CliRunner.RunAsync(args, "unused", stdin: [1], environment: environment);

        Assert.Equal(ExitCode.IoFailure, result.ExitCode);
        string line = Assert.Single(result.ErrorLines);
        Assert.StartsWith("omnistore: error: ", line, StringComparison.Ordinal);
        Assert.Contains(environment["HOME"]!, line, StringComparison.Ordinal);
        Assert.Contains("--store", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARelay_WhoseDefaultDataDirectoryCannotBeCreated_FailsInOneLineNamingItAndTheOption()
    {
        var environment = Environment(Home.UnderARegularFile);

        var result = await CliRunner.RunAsync(["relay", "--listen", "tcp://127.0.0.1:0"], "unused", environment: environment);

        Assert.Equal(ExitCode.IoFailure, result.ExitCode);
        Assert.DoesNotContain("listening on", result.Output, StringComparison.Ordinal);
        string line = Assert.Single(result.ErrorLines, l => l.StartsWith("omnistore: error: ", StringComparison.Ordinal));
        Assert.Contains(environment["HOME"]!, line, StringComparison.Ordinal);
        Assert.Contains("--data-dir", line, StringComparison.Ordinal);
        Assert.DoesNotContain(result.ErrorLines, IsStackTrace);
    }

    [Fact]
    public async Task ARelayWithATooSmallCacheSize_UnderAnUnusableHome_IsAUsageError()
    {
        var result = await CliRunner.RunAsync(["relay", "--listen", "tcp://127.0.0.1:0", "--parent", "tcp://127.0.0.1:7070", "--cache-size", "10M"], "unused", environment: Environment(Home.UnderARegularFile));

        Assert.Equal(ExitCode.Usage, result.ExitCode);
        Assert.Equal("omnistore: error: --cache-size: 10M is too small; a store needs at least 128.0 MiB.", Assert.Single(result.ErrorLines));
    }

    /// <summary>What is wrong with one run; nothing when it behaved.</summary>
    private static IEnumerable<string> Problems(Run run, CliResult result)
    {
        string what = $"omnistore {string.Join(' ', run.Args)}: exit {result.ExitCode}, stderr: {Shorten(result.StandardError)}";
        if (result.ErrorLines.Any(IsStackTrace))
        {
            yield return $"{what} (a stack trace)";
        }

        if (result.ExitCode != 0 && !DocumentedExitCodes.Contains(result.ExitCode))
        {
            yield return $"{what} (not a documented exit code)";
        }

        switch (run.Kind)
        {
            case RunKind.Help:
                if (result.ExitCode != 0 || result.ErrorLines.Length > 0 || !(run.Hidden || result.Output.Contains("Usage:", StringComparison.Ordinal)))
                {
                    yield return $"{what} (help should print the usage and exit 0)";
                }

                break;

            case RunKind.Bare or RunKind.Invalid:
                if (result.ExitCode != ExitCode.Usage || result.ErrorLines.Length != 1 || !result.ErrorLines[0].StartsWith("omnistore: error: ", StringComparison.Ordinal))
                {
                    yield return $"{what} (should be one 'omnistore: error:' line and exit {ExitCode.Usage})";
                }

                break;
        }
    }

    private static bool IsStackTrace(string line) =>
        line.StartsWith("   at ", StringComparison.Ordinal) || line.Contains("Unhandled exception", StringComparison.Ordinal) || line.Contains(" ---> ", StringComparison.Ordinal);

    private static string Shorten(string text) => text.Length <= 600 ? text.Trim() : text[..600] + "...";

    /// <summary>The runs for every command: help, nothing (unless it works without arguments), an unknown option, and a bad value for each address and size option.</summary>
    private static IEnumerable<Run> Runs()
    {
        var root = OmniStoreCommandLine.Create();
        foreach (var (path, command) in Commands(root, []))
        {
            yield return new Run(RunKind.Help, [.. path, "--help"], command.Hidden);

            bool parsesBare = root.Parse(path).Errors.Count == 0;
            if (parsesBare)
            {
                Assert.True(RunWithoutArguments.Contains(string.Join(' ', path)), $"omnistore {string.Join(' ', path)} runs without arguments: add it to {nameof(RunWithoutArguments)} if that is meant");
            }
            else
            {
                yield return new Run(RunKind.Bare, path);
            }

            yield return new Run(RunKind.Invalid, [.. path, "--no-such-option"]);
            foreach (var option in command.Options.Where(o => !o.Hidden))
            {
                if (option.HelpName is "URI" or "URL" || option.Validators.Any(v => v.Method.DeclaringType == typeof(NodeAddressOptions)))
                {
                    yield return new Run(RunKind.Invalid, [.. path, option.Name, "not-an-address"]);
                }
                else if (option.HelpName is "SIZE")
                {
                    yield return new Run(RunKind.Invalid, [.. path, option.Name, "lots"]);
                }
            }
        }
    }

    /// <summary>Every command under <paramref name="command"/>, itself first, hidden ones included, with the words that name it.</summary>
    private static IEnumerable<(string[] Path, Command Command)> Commands(Command command, string[] path)
    {
        yield return (path, command);
        foreach (var sub in command.Subcommands)
        {
            foreach (var nested in Commands(sub, [.. path, sub.Name]))
            {
                yield return nested;
            }
        }
    }

    /// <summary>The child's environment: HOME as <paramref name="home"/> says, and nothing else that would choose a store directory.</summary>
    private Dictionary<string, string?> Environment(Home home)
    {
        string? value;
        switch (home)
        {
            case Home.UnderARegularFile:
                string file = _dir.Sub("not-a-directory");
                File.WriteAllText(file, "a file");
                value = Path.Combine(file, "home");
                break;
            case Home.Missing:
                value = _dir.Sub("missing-home");
                break;
            case Home.ReadOnlyDirectory:
                value = _dir.Sub("home");
                Directory.CreateDirectory(value);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(value, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
                }

                break;
            default:
                value = null;
                break;
        }

        return new Dictionary<string, string?>
        {
            ["HOME"] = value,
            ["OMNISTORE_DATA"] = null,
            ["XDG_DATA_HOME"] = null,
        };
    }

    private enum RunKind
    {
        Help,
        Bare,
        Invalid,
    }

    /// <param name="Hidden">A hidden command (a process the benchmark starts), whose help is empty.</param>
    private sealed record Run(RunKind Kind, string[] Args, bool Hidden = false);
}
