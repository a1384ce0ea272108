using System.Diagnostics;

namespace OmniStore.Lab.Internal;

/// <summary>Runs the system tools the lab is built with (ip, tc, nft, sysctl), each under a time limit.</summary>
internal static class CommandRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs a command to completion; a command still running at the timeout is killed and reported as exit code -1.</summary>
    public static async Task<LabCommandResult> RunAsync(string fileName, IEnumerable<string> arguments, string? standardInput = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new LabException($"Could not start '{fileName}' (is it installed?)", e);
        }

        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout ?? DefaultTimeout);
        try
        {
            if (standardInput is not null)
            {
                await process.StandardInput.WriteAsync(standardInput.AsMemory(), deadline.Token).ConfigureAwait(false);
            }

            process.StandardInput.Close();
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            return new LabCommandResult(process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            KillQuietly(process);
            cancellationToken.ThrowIfCancellationRequested();
            return new LabCommandResult(-1, "", $"timed out after {timeout ?? DefaultTimeout}");
        }
        catch (IOException)
        {
            // It exited before reading its input; its exit status says why.
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            return new LabCommandResult(process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
        }
    }

    /// <summary>Runs a command and throws <see cref="LabException"/> unless it exits with 0; returns its standard output.</summary>
    public static async Task<string> RunCheckedAsync(string fileName, IReadOnlyList<string> arguments, string? standardInput = null, CancellationToken cancellationToken = default)
    {
        var result = await RunAsync(fileName, arguments, standardInput, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new LabException($"exit status {result.ExitCode}", Format(fileName, arguments), result.StandardError);
        }

        return result.StandardOutput;
    }

    /// <summary><c>ip</c> with the given arguments.</summary>
    public static Task<string> IpAsync(CancellationToken cancellationToken, params string[] arguments) =>
        RunCheckedAsync("ip", arguments, cancellationToken: cancellationToken);

    /// <summary>A command run inside a namespace through <c>ip netns exec</c>.</summary>
    public static Task<string> InNamespaceAsync(string ns, string fileName, IReadOnlyList<string> arguments, CancellationToken cancellationToken) =>
        RunCheckedAsync("ip", ["netns", "exec", ns, fileName, .. arguments], cancellationToken: cancellationToken);

    public static string Format(string fileName, IEnumerable<string> arguments) =>
        string.Join(' ', arguments.Prepend(fileName).Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"'{a}'" : a));

    public static void KillQuietly(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Exited between the check and the signal.
        }
    }
}
