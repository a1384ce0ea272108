namespace OmniStore;

/// <summary>
/// The one exception type OmniStore raises for failures of its own; <see cref="Error"/> says why.
/// Misuse of the API (a null argument, a disposed object) raises the usual .NET exceptions.
/// </summary>
public sealed class OmniStoreException : Exception
{
    /// <summary>Creates an exception with an error code and a message.</summary>
    public OmniStoreException(OmniStoreError error, string message)
        : base(message) => Error = error;

    /// <summary>Creates an exception with an error code, a message and the exception that caused it.</summary>
    public OmniStoreException(OmniStoreError error, string message, Exception? innerException)
        : base(message, innerException) => Error = error;

    /// <summary>Creates an exception with <see cref="OmniStoreError.Unknown"/>.</summary>
    public OmniStoreException()
        : this(OmniStoreError.Unknown, "OmniStore error.")
    {
    }

    /// <summary>Creates an exception with <see cref="OmniStoreError.Unknown"/> and a message.</summary>
    public OmniStoreException(string message)
        : this(OmniStoreError.Unknown, message)
    {
    }

    /// <summary>Creates an exception with <see cref="OmniStoreError.Unknown"/>, a message and an inner exception.</summary>
    public OmniStoreException(string message, Exception? innerException)
        : this(OmniStoreError.Unknown, message, innerException)
    {
    }

    /// <summary>Why the operation failed.</summary>
    public OmniStoreError Error { get; }
}
