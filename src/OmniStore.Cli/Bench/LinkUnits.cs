using System.Globalization;

namespace OmniStore.Cli.Bench;

/// <summary>Link rates ("100mbit", "1gbit", "512kbit", bits per second) and durations ("40ms", "1.5s", "250us") as tc writes them.</summary>
internal static class LinkUnits
{
    public static bool TryParseRate(string text, out long bitsPerSecond)
    {
        var (number, unit) = Split(text);
        long scale = unit switch
        {
            "" or "bit" or "bps" => 1,
            "kbit" or "k" => 1_000,
            "mbit" or "m" => 1_000_000,
            "gbit" or "g" => 1_000_000_000,
            _ => 0,
        };
        bitsPerSecond = scale > 0 && double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0
            ? (long)(value * scale)
            : 0;
        return bitsPerSecond > 0;
    }

    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        var (number, unit) = Split(text);
        double scale = unit switch
        {
            "us" => 1e-6,
            "" or "ms" => 1e-3,
            "s" => 1,
            _ => 0,
        };
        bool ok = scale > 0 && double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value >= 0;
        duration = ok ? TimeSpan.FromSeconds(double.Parse(number, CultureInfo.InvariantCulture) * scale) : TimeSpan.Zero;
        return ok;
    }

    public static string FormatRate(long bitsPerSecond) => bitsPerSecond switch
    {
        >= 1_000_000_000 when bitsPerSecond % 1_000_000_000 == 0 => $"{bitsPerSecond / 1_000_000_000} Gbit/s",
        >= 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e6:0.##} Mbit/s"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e3:0.##} kbit/s"),
    };

    private static (string Number, string Unit) Split(string text)
    {
        string t = text.Trim().ToLowerInvariant();
        int i = 0;
        while (i < t.Length && (char.IsAsciiDigit(t[i]) || t[i] == '.'))
        {
            i++;
        }

        return (t[..i], t[i..]);
    }
}
