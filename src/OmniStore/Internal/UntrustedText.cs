using System.Buffers;
using System.Globalization;
using System.Text;

namespace OmniStore.Internal;

/// <summary>
/// Makes text that a peer chose (its site, the message of an ERROR it sent, an object name, an
/// exception message quoting any of those) safe for a log line, a terminal or a status page: every
/// character that is not printable (C0 and C1 controls, DEL, format characters such as bidi
/// overrides, line and paragraph separators, unassigned and private-use code points) is written as
/// an escape (<c>\r</c>, <c>\n</c>, <c>\t</c>, <c>\xHH</c>, <c>\uHHHH</c>, <c>\UHHHHHHHH</c>), and the
/// text is cut at a length. Printable text, any script, is kept as it is; escaping is idempotent,
/// so text escaped at one boundary and again at the next is unchanged.
/// </summary>
internal static class UntrustedText
{
    /// <summary>The longest text kept by default, in UTF-16 characters; the rest is counted, not shown.</summary>
    public const int DefaultMaxLength = 1024;

    /// <summary>
    /// <paramref name="text"/> with every non-printable character escaped, cut after
    /// <paramref name="maxLength"/> characters (escapes included) with a note of how much was left out.
    /// </summary>
    public static string Escape(string? text, int maxLength = DefaultMaxLength)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        if (text.Length <= maxLength && IsPrintable(text))
        {
            return text; // the common case: nothing to do, nothing allocated
        }

        var escaped = new StringBuilder(Math.Min(text.Length, maxLength) + 32);
        int consumed = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (escaped.Length >= maxLength)
            {
                break;
            }

            if (IsPrintable(rune))
            {
                escaped.Append(rune.ToString());
            }
            else
            {
                AppendEscape(escaped, rune);
            }

            consumed += rune.Utf16SequenceLength;
        }

        if (consumed < text.Length)
        {
            escaped.Append(CultureInfo.InvariantCulture, $"... ({text.Length - consumed} more characters)");
        }

        return escaped.ToString();
    }

    /// <summary>Whether <paramref name="text"/> holds only printable characters (an unpaired surrogate is not).</summary>
    public static bool IsPrintable(ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            // Printable ASCII, the bulk of every log line, without a table lookup.
            if (c is >= ' ' and < '\x7f')
            {
                continue;
            }

            return IsPrintableSlow(text);
        }

        return true;
    }

    /// <summary>Whether <paramref name="rune"/> shows as a visible glyph or a plain space, changing nothing around it.</summary>
    public static bool IsPrintable(Rune rune) => Rune.GetUnicodeCategory(rune) is not (
        UnicodeCategory.Control or
        UnicodeCategory.Format or
        UnicodeCategory.LineSeparator or
        UnicodeCategory.ParagraphSeparator or
        UnicodeCategory.Surrogate or
        UnicodeCategory.PrivateUse or
        UnicodeCategory.OtherNotAssigned);

    private static bool IsPrintableSlow(ReadOnlySpan<char> text)
    {
        while (!text.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(text, out var rune, out int used) != OperationStatus.Done || !IsPrintable(rune))
            {
                return false;
            }

            text = text[used..];
        }

        return true;
    }

    private static void AppendEscape(StringBuilder builder, Rune rune)
    {
        var c = CultureInfo.InvariantCulture;
        _ = rune.Value switch
        {
            '\r' => builder.Append("\\r"),
            '\n' => builder.Append("\\n"),
            '\t' => builder.Append("\\t"),
            < 0x100 => builder.Append(c, $"\\x{rune.Value:X2}"),
            < 0x10000 => builder.Append(c, $"\\u{rune.Value:X4}"),
            _ => builder.Append(c, $"\\U{rune.Value:X8}"),
        };
    }
}
