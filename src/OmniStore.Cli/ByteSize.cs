using System.Globalization;

namespace OmniStore.Cli;

/// <summary>
/// Sizes on the command line: plain bytes or a number with a binary suffix (64K, 1M, 1MiB, 2G).
/// Suffixes are powers of 1024 whatever their spelling; "MB" and friends are refused rather than
/// guessed, because tools disagree on whether they mean 1000² or 1024².
/// </summary>
internal static class ByteSize
{
    private static readonly (string Suffix, int Shift)[] Units =
    [
        ("", 0), ("B", 0),
        ("K", 10), ("KI", 10), ("KIB", 10),
        ("M", 20), ("MI", 20), ("MIB", 20),
        ("G", 30), ("GI", 30), ("GIB", 30),
        ("T", 40), ("TI", 40), ("TIB", 40),
    ];

    /// <summary>Text for help output.</summary>
    public const string Syntax = "bytes, or a number with K, M, G or T (KiB, MiB... also accepted; 1K = 1024)";

    public static bool TryParse(string? text, out long bytes, out string? problem)
    {
        bytes = 0;
        problem = null;
        string trimmed = (text ?? string.Empty).Trim();
        int digits = 0;
        while (digits < trimmed.Length && char.IsAsciiDigit(trimmed[digits]))
        {
            digits++;
        }

        if (digits == 0)
        {
            problem = $"'{text}' is not a size: expected {Syntax}";
            return false;
        }

        string suffix = trimmed[digits..].Trim().ToUpperInvariant();
        int shift = -1;
        foreach (var (name, unitShift) in Units)
        {
            if (name == suffix)
            {
                shift = unitShift;
                break;
            }
        }

        if (shift < 0)
        {
            problem = suffix is "KB" or "MB" or "GB" or "TB"
                ? $"'{text}' is ambiguous: write {trimmed[..digits]}{suffix[0]} or {trimmed[..digits]}{suffix[0]}iB (binary units, 1K = 1024 bytes)"
                : $"'{text}' is not a size: expected {Syntax}";
            return false;
        }

        if (!long.TryParse(trimmed.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out long number)
            || number > (long.MaxValue >> shift))
        {
            problem = $"'{text}' is too large";
            return false;
        }

        bytes = number << shift;
        return true;
    }

    /// <summary>A short human form: "512 B", "1.5 KiB", "64.0 MiB".</summary>
    public static string Format(long bytes)
    {
        if (bytes < 1024)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{bytes} B");
        }

        string[] units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }
}
