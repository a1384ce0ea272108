namespace OmniStore.Internal;

/// <summary>
/// Names in the order of their UTF-8 bytes (code point order), the order of a listing on the wire
/// (docs/watch.md): ordinal UTF-16 order differs from it only where a surrogate pair meets a
/// character from U+E000 to U+FFFF, which this corrects as ICU's code point comparison does.
/// </summary>
internal sealed class NameOrder : IComparer<string>
{
    public static readonly NameOrder Instance = new();

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null || y is null)
        {
            return x is null ? -1 : 1;
        }

        int common = Math.Min(x.Length, y.Length);
        for (int i = 0; i < common; i++)
        {
            char a = x[i], b = y[i];
            if (a != b)
            {
                return Fix(a) - Fix(b);
            }
        }

        return x.Length - y.Length;
    }

    /// <summary>Moves surrogates above U+E000..U+FFFF, where their code points (U+10000 and up) sort.</summary>
    private static int Fix(char c) => c < 0xD800 ? c : c >= 0xE000 ? c - 0x800 : c + 0x2000;
}
