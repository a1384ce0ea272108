namespace OmniStore.Lab;

/// <summary>How a command run to completion in a lab namespace ended.</summary>
/// <param name="ExitCode">The command's exit status.</param>
/// <param name="StandardOutput">Everything it printed on standard output.</param>
/// <param name="StandardError">Everything it printed on standard error.</param>
public sealed record LabCommandResult(int ExitCode, string StandardOutput, string StandardError);
