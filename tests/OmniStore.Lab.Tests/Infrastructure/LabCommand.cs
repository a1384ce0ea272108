using System.Diagnostics;
using System.Text.RegularExpressions;

namespace OmniStore.Lab.Tests.Infrastructure;

/// <summary>The lab's own executable (<c>OmniStore.Lab up</c>) as a child process, to be signalled or killed.</summary>
public sealed partial class LabCommand : IAsyncDisposable
{
    private readonly Process _process;

    private LabCommand(Process process, string prefix, int wirePid)
    {
        _process = process;
        Prefix = prefix;
        WirePid = wirePid;
    }

    public string Prefix { get; }

    public int WirePid { get; }

    public int Pid => _process.Id;

    public Process Process => _process;

    public static async Task<LabCommand> UpAsync(CancellationToken cancellationToken, params string[] arguments)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "OmniStore.Lab.dll"));
        start.ArgumentList.Add("up");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        string? prefix = null;
        var wirePid = 0;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            while (await process.StandardOutput.ReadLineAsync(deadline.Token) is { } line)
            {
                if (UpLine().Match(line) is { Success: true } match)
                {
                    prefix = match.Groups[1].Value;
                    wirePid = int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
                }

                if (line == "ready")
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (prefix is null)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"OmniStore.Lab up did not come up: {await stderr}");
        }

        _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        return new LabCommand(process, prefix, wirePid);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static string DotnetHost() =>
        Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";

    [GeneratedRegex(@"^lab (omnilab-[0-9a-f]{6}) up \(wire pid (\d+)\)$")]
    private static partial Regex UpLine();
}
