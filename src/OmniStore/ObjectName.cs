using System.Text;

namespace OmniStore;

/// <summary>The rules object names follow: 1..1024 bytes of UTF-8, no control characters.</summary>
internal static class ObjectName
{
    /// <summary>The longest name, in UTF-8 bytes.</summary>
    public const int MaxByteLength = 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Whether <paramref name="name"/> is a valid object name; <paramref name="problem"/> says why not.</summary>
    public static bool IsValid(string? name, out string? problem)
    {
        problem = null;
        if (string.IsNullOrEmpty(name))
        {
            problem = "a name must not be empty";
            return false;
        }

        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(name);
        }
        catch (EncoderFallbackException)
        {
            problem = "a name must be valid Unicode (it has an unpaired surrogate)";
            return false;
        }

        if (bytes > MaxByteLength)
        {
            problem = $"a name must be at most {MaxByteLength} UTF-8 bytes (this one has {bytes})";
            return false;
        }

        foreach (var rune in name.EnumerateRunes())
        {
            if (Rune.IsControl(rune))
            {
                problem = $"a name must not contain control characters (U+{rune.Value:X4})";
                return false;
            }
        }

        return true;
    }

    /// <summary>Throws <see cref="OmniStoreException"/> with <see cref="OmniStoreError.InvalidName"/> unless <paramref name="name"/> is valid.</summary>
    public static void Validate(string? name)
    {
        if (!IsValid(name, out string? problem))
        {
            throw new OmniStoreException(OmniStoreError.InvalidName, $"Invalid object name: {problem}.");
        }
    }
}
