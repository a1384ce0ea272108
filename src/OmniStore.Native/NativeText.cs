using System.Runtime.InteropServices;
using System.Text;

namespace OmniStore.Native;

/// <summary>Strings across the C boundary: names in, error messages out, both UTF-8.</summary>
internal static unsafe class NativeText
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The object name at <paramref name="name"/>, a NUL-terminated UTF-8 string.
    /// </summary>
    /// <exception cref="OmniStoreException"><see cref="OmniStoreError.InvalidName"/> if the pointer is null, the bytes are not UTF-8, or the name breaks <see cref="ObjectName"/>'s rules.</exception>
    public static string DecodeName(byte* name)
    {
        if (name is null)
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, "Invalid object name: the name is NULL.");
        }

        var bytes = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name);
        // Checked before decoding, so that a huge string is refused without a huge allocation.
        if (bytes.Length > ObjectName.MaxByteLength)
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, $"Invalid object name: a name must be at most {ObjectName.MaxByteLength} UTF-8 bytes (this one has {bytes.Length}).");
        }

        return Protocol.Names.Decode(bytes);
    }

    /// <summary>The NUL-terminated UTF-8 string at <paramref name="text"/>, or null for a null pointer.</summary>
    public static string? Decode(byte* text) =>
        text is null ? null : StrictUtf8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text));

    /// <summary>
    /// Writes <paramref name="message"/> into the caller's buffer as NUL-terminated UTF-8, cut at a
    /// character boundary if it does not fit. Never throws: it runs on the error path.
    /// </summary>
    public static void WriteMessage(byte* buffer, int size, string message)
    {
        if (buffer is null || size <= 0)
        {
            return;
        }

        try
        {
            var destination = new Span<byte>(buffer, size - 1);
            // An encoder stops before a character that does not fit, where GetBytes would throw.
            Encoding.UTF8.GetEncoder().Convert(message, destination, flush: true, out _, out int written, out _);
            buffer[written] = 0;
        }
        catch (Exception)
        {
            buffer[0] = 0;
        }
    }
}
