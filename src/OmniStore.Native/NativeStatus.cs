namespace OmniStore.Native;

/// <summary>
/// The values the entry points return, as <c>omnistore.h</c> defines them: 0 for success, an
/// <see cref="OmniStoreError"/> negated, or one of the codes for conditions only the C library has.
/// </summary>
internal static class NativeStatus
{
    /// <summary>Success (<c>OMST_OK</c>).</summary>
    public const int Ok = 0;

    /// <summary>No client is open (<c>OMST_E_NOT_INITIALIZED</c>).</summary>
    public const int NotInitialized = -101;

    /// <summary><c>omst_finalize</c> was called: the library cannot be used again (<c>OMST_E_FINALIZED</c>).</summary>
    public const int Finalized = -102;

    /// <summary>A client is already open (<c>OMST_E_ALREADY_INITIALIZED</c>).</summary>
    public const int AlreadyInitialized = -103;

    /// <summary>
    /// The runtime could not be started (<c>OMST_E_RUNTIME</c>): kept for the header's ABI; the
    /// NativeAOT library carries its runtime and never returns it.
    /// </summary>
    public const int Runtime = -104;

    /// <summary>The C code of <paramref name="error"/>: its stable value, negated.</summary>
    public static int From(OmniStoreError error) => -(int)error;

    /// <summary>
    /// The code for an exception that reached an entry point. OmniStore's own errors keep their
    /// code; the few .NET exceptions a caller can provoke map to the nearest one; anything else
    /// is <see cref="OmniStoreError.Unknown"/>.
    /// </summary>
    public static int From(Exception exception) => exception switch
    {
        OmniStoreException e => From(e.Error),
        ObjectDisposedException => From(OmniStoreError.Disposed),
        OperationCanceledException => From(OmniStoreError.Cancelled),
        ArgumentException or FormatException => From(OmniStoreError.InvalidArgument),
        // The embedded store's directory cannot be created, opened or written.
        IOException or UnauthorizedAccessException => From(OmniStoreError.Unavailable),
        _ => From(OmniStoreError.Unknown),
    };
}
