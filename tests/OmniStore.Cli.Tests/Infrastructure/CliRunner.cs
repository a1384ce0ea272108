using System.Diagnostics;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>
/// Runs the built CLI (OmniStore.Cli.dll, copied next to the tests by the project reference) as a
/// child process, the way a user does. Every run has a timeout; a run that exceeds it is killed with
/// its process tree and fails the test.
/// </summary>
public static class CliRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private static readonly string CliPath = Path.Combine(AppContext.BaseDirectory, "OmniStore.Cli.dll");

    /// <summary>Runs <c>omnistore</c> with <paramref name="args"/>, feeding <paramref name="stdin"/> (empty if null) to it.</summary>
    /// <param name="dataDirectory">Value of OMNISTORE_DATA for the child, so that no test ever touches the user's default store.</param>
    /// <param name="environment">Variables to set (or, with a null value, remove) for the child.</param>
    public static async Task<CliResult> RunAsync(
        IEnumerable<string> args,
        string dataDirectory,
        byte[]? stdin = null,
        TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = StartInfo(args, dataDirectory, environment);
        return await ProcessRunner.RunAsync(start, $"omnistore {string.Join(' ', args)}", timeout ?? DefaultTimeout, stdin);
    }

    public static Task<CliResult> RunAsync(string dataDirectory, params string[] args) => RunAsync(args, dataDirectory);

    /// <summary>
    /// How to start <c>omnistore</c> with <paramref name="args"/>: stdout and stderr redirected,
    /// OMNISTORE_DATA set to <paramref name="dataDirectory"/>, NO_COLOR set, and the variables that
    /// would point the child at someone else's relay (or collector) removed.
    /// </summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, string dataDirectory, IReadOnlyDictionary<string, string?>? environment = null)
    {
        Assert.True(File.Exists(CliPath), $"{CliPath} is missing: the CLI was not built next to the tests.");
        var start = new ProcessStartInfo(ProcessRunner.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliPath);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["OMNISTORE_DATA"] = dataDirectory;
        start.Environment["NO_COLOR"] = "1";
        start.Environment.Remove("OMNISTORE_RELAY");
        start.Environment.Remove("OMNISTORE_FALLBACK");
        start.Environment.Remove("OMNISTORE_SECRET_FILE");
        start.Environment.Remove("OMNISTORE_RELAY_SECRET_FILE");
        start.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT"); // a collector of the machine's: not for test nodes
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        return start;
    }
}
