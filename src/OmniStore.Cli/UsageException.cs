namespace OmniStore.Cli;

/// <summary>
/// A command line that parsed but cannot work (for example <c>--fallback</c> without a relay to
/// fall back from): reported like a parse error, exit code <see cref="ExitCodes.Usage"/>.
/// </summary>
internal sealed class UsageException(string message) : Exception(message);
