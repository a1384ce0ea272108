using System.CommandLine;

namespace OmniStore.Cli;

/// <summary>
/// Turns every failure of a command into one line on stderr, <c>omnistore: error: message</c>, and
/// an exit code from <see cref="ExitCodes"/>. Expected failures never print a stack trace.
/// </summary>
internal static class CommandFailure
{
    /// <summary>Set to 1, every failure is followed by its exception and stack, for a bug report.</summary>
    public const string DebugVariable = "OMNISTORE_DEBUG";

    /// <summary>Sets <paramref name="action"/> as the command's action, with failures reported as above.</summary>
    public static void SetGuardedAction(this Command command, Func<ParseResult, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            try
            {
                return await action(parseResult, cancellationToken);
            }
            catch (Exception ex)
            {
                return ReportException(ex);
            }
        });

    /// <summary>
    /// Reports <paramref name="ex"/> in one line and returns its exit code; with
    /// <c>OMNISTORE_DEBUG=1</c> in the environment, the whole exception (with its stack) follows.
    /// </summary>
    public static int ReportException(Exception ex)
    {
        var (exitCode, message) = Describe(ex);
        Report(message);
        if (Environment.GetEnvironmentVariable(DebugVariable) == "1")
        {
            Console.Error.WriteLine(ex.ToString());
        }

        return exitCode;
    }

    /// <summary>Writes one error line to stderr.</summary>
    public static void Report(string message) =>
        Console.Error.WriteLine($"{OmniStoreCommandLine.ExecutableName}: error: {OneLine(message)}");

    /// <summary>Writes one warning line to stderr.</summary>
    public static void Warn(string message) =>
        Console.Error.WriteLine($"{OmniStoreCommandLine.ExecutableName}: warning: {OneLine(message)}");

    private static (int ExitCode, string Message) Describe(Exception ex) => ex switch
    {
        UsageException => (ExitCodes.Usage, ex.Message),
        // The hint about the secret only where the refusal is about the secret, not a certificate or a right.
        OmniStoreException { Error: OmniStoreError.Unauthorized } store when store.Message.Contains("shared secret", StringComparison.Ordinal)
            => (ExitCodes.For(store.Error), $"{store.Message} (Unauthorized: every node and client of a tree needs the same --secret-file)"),
        OmniStoreException { Error: OmniStoreError.Unauthorized } store => (ExitCodes.For(store.Error), $"{store.Message} (Unauthorized)"),
        OmniStoreException store => (ExitCodes.For(store.Error), store.Message),
        OperationCanceledException => (ExitCodes.For(OmniStoreError.Cancelled), "cancelled"),
        IOException or UnauthorizedAccessException => (ExitCodes.IoFailure, ex.Message),

        // Not expected: still one line, but say what kind of failure it was.
        _ => (ExitCodes.IoFailure, $"unexpected {ex.GetType().Name}: {ex.Message}"),
    };

    private static string OneLine(string message) =>
        message.ReplaceLineEndings(" ").Trim();
}
