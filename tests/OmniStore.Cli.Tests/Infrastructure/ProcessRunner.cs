using System.Diagnostics;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>
/// Runs a child process to its end under a timeout, with its stdout and stderr captured; a run that
/// exceeds the timeout is killed with its process tree and fails the test.
/// </summary>
public static class ProcessRunner
{
    /// <summary>
    /// Runs <paramref name="start"/> (whose stdout and stderr must be redirected), feeding
    /// <paramref name="stdin"/> to it when given, else closing its input at once.
    /// </summary>
    /// <param name="description">The command as a person would type it, for the timeout's message.</param>
    public static async Task<CliResult> RunAsync(ProcessStartInfo start, string description, TimeSpan timeout, byte[]? stdin = null)
    {
        start.RedirectStandardInput = true;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{description} did not start.");
        var stdout = new MemoryStream();
        var readOut = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var readErr = process.StandardError.ReadToEndAsync();

        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            var input = process.StandardInput.BaseStream;
            if (stdin is not null)
            {
                await input.WriteAsync(stdin, deadline.Token);
            }

            await input.FlushAsync(deadline.Token);
            process.StandardInput.Close(); // end of input: "put NAME -" stops reading here
            await process.WaitForExitAsync(deadline.Token);
            await Task.WhenAll(readOut, readErr).WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{description} did not finish within {timeout}; killed it.");
        }
        catch (IOException)
        {
            // The child exited without reading all of stdin (it failed early); its exit code tells why.
            await process.WaitForExitAsync(deadline.Token);
            await Task.WhenAll(readOut, readErr).WaitAsync(deadline.Token);
        }

        return new CliResult(process.ExitCode, stdout.ToArray(), await readErr);
    }

    /// <summary>The dotnet host running the tests, so that a child runs on the same runtime and SDK.</summary>
    public static string DotnetHost()
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
