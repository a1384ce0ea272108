namespace OmniStore.Lab;

/// <summary>A lab operation failed: a command (ip, tc, nft, sysctl) or the wire did not do what was asked.</summary>
public sealed class LabException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public LabException()
        : this("The lab operation failed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public LabException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the failure behind it.</summary>
    public LabException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a command that failed.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="command">The command line, for the message and for <see cref="Command"/>.</param>
    /// <param name="standardError">What the command printed on its standard error.</param>
    public LabException(string message, string command, string standardError)
        : base($"{message}: {command}: {standardError.Trim()}")
    {
        Command = command;
        StandardError = standardError;
    }

    /// <summary>The command line that failed, when a command failed.</summary>
    public string? Command { get; }

    /// <summary>The failed command's standard error, when a command failed.</summary>
    public string? StandardError { get; }
}
