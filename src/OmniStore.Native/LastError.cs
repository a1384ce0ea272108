using System.Runtime.InteropServices;

namespace OmniStore.Native;

/// <summary>
/// The message of the last call that failed on each thread, as <c>omst_last_error</c> returns it:
/// a NUL-terminated UTF-8 buffer of <see cref="Size"/> bytes per thread, allocated on the thread's
/// first use and kept for the life of the thread (the pointer a caller got stays valid until the
/// thread's next failing call, as the header promises).
/// </summary>
internal static unsafe class LastError
{
    /// <summary>Bytes per thread, the terminating NUL included: messages longer than this are cut.</summary>
    public const int Size = 2048;

    [ThreadStatic]
    private static byte* t_buffer;

    /// <summary>The calling thread's buffer ("" until a call fails on it).</summary>
    public static byte* Buffer => t_buffer is not null ? t_buffer : t_buffer = (byte*)NativeMemory.AllocZeroed(Size);

    /// <summary>Keeps <paramref name="message"/> as the thread's last error and returns <paramref name="status"/>.</summary>
    public static int Fail(int status, string message)
    {
        NativeText.WriteMessage(Buffer, Size, message);
        return status;
    }
}
