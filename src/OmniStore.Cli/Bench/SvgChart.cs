using System.Globalization;
using System.Security;
using System.Text;

namespace OmniStore.Cli.Bench;

/// <summary>
/// A line chart as a standalone SVG file: time against workers (log2 axis), one solid line per
/// mode and, where known, its physical floor dashed in the same colour. No dependencies: the file
/// is written by hand and opens in any browser.
/// </summary>
internal static class SvgChart
{
    private const double Width = 760, Height = 480, Left = 70, Right = 190, Top = 70, Bottom = 60;
    private static readonly string[] Colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];

    public static string Render(string title, IReadOnlyList<string> subtitle, IReadOnlyList<StagingRunResult> results)
    {
        var c = CultureInfo.InvariantCulture;
        var workers = results.Select(r => r.Workers).Distinct().Order().ToArray();
        double maxY = results.Select(r => Math.Max(r.Seconds, r.FloorSeconds ?? 0)).DefaultIfEmpty(1).Max();
        double step = NiceStep(maxY / 5);
        double top = Math.Ceiling(maxY / step) * step;
        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double X(int w) => workers.Length == 1 ? Left + (plotW / 2) : Left + (plotW * (Math.Log2(w) - Math.Log2(workers[0])) / (Math.Log2(workers[^1]) - Math.Log2(workers[0])));
        double Y(double s) => Top + plotH - (plotH * s / top);

        var svg = new StringBuilder();
        svg.AppendLine(c, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{Width}" height="{Height}" viewBox="0 0 {Width} {Height}" font-family="sans-serif" font-size="12">""");
        svg.AppendLine(c, $"""<rect width="{Width}" height="{Height}" fill="white"/>""");
        svg.AppendLine(c, $"""<text x="{Left}" y="22" font-size="15" font-weight="bold">{Escape(title)}</text>""");
        for (int line = 0; line < subtitle.Count; line++)
        {
            svg.AppendLine(c, $"""<text x="{Left}" y="{40 + (line * 15)}" fill="#555" font-size="11">{Escape(subtitle[line])}</text>""");
        }

        for (double v = 0; v <= top + (step / 2); v += step)
        {
            svg.AppendLine(c, $"""<line x1="{Left}" x2="{Left + plotW}" y1="{Y(v):0.0}" y2="{Y(v):0.0}" stroke="#e5e5e5"/>""");
            svg.AppendLine(c, $"""<text x="{Left - 8}" y="{Y(v) + 4:0.0}" text-anchor="end">{v.ToString("0.##", c)}</text>""");
        }

        foreach (int w in workers)
        {
            svg.AppendLine(c, $"""<line x1="{X(w):0.0}" x2="{X(w):0.0}" y1="{Top + plotH}" y2="{Top + plotH + 5}" stroke="#333"/>""");
            svg.AppendLine(c, $"""<text x="{X(w):0.0}" y="{Top + plotH + 20}" text-anchor="middle">{w}</text>""");
        }

        svg.AppendLine(c, $"""<line x1="{Left}" x2="{Left + plotW}" y1="{Top + plotH}" y2="{Top + plotH}" stroke="#333"/>""");
        svg.AppendLine(c, $"""<line x1="{Left}" x2="{Left}" y1="{Top}" y2="{Top + plotH}" stroke="#333"/>""");
        svg.AppendLine(c, $"""<text x="{Left + (plotW / 2)}" y="{Height - 15}" text-anchor="middle">workers</text>""");
        svg.AppendLine(c, $"""<text transform="translate(18 {Top + (plotH / 2)}) rotate(-90)" text-anchor="middle">seconds until the last worker holds the data</text>""");

        int legend = 0;
        var modes = results.Select(r => r.Mode).Distinct().ToArray();
        for (int m = 0; m < modes.Length; m++)
        {
            string colour = Colours[m % Colours.Length];
            var series = results.Where(r => r.Mode == modes[m]).OrderBy(r => r.Workers).ToArray();
            svg.AppendLine(c, $"""<polyline fill="none" stroke="{colour}" stroke-width="2" points="{string.Join(' ', series.Select(r => string.Create(c, $"{X(r.Workers):0.0},{Y(r.Seconds):0.0}")))}"/>""");
            foreach (var r in series)
            {
                svg.AppendLine(c, $"""<circle cx="{X(r.Workers):0.0}" cy="{Y(r.Seconds):0.0}" r="3" fill="{colour}"/>""");
            }

            Legend(modes[m].Name(), colour, dashed: false);
            if (series.All(r => r.FloorSeconds is not null))
            {
                svg.AppendLine(c, $"""<polyline fill="none" stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 4" points="{string.Join(' ', series.Select(r => string.Create(c, $"{X(r.Workers):0.0},{Y(r.FloorSeconds!.Value):0.0}")))}"/>""");
                Legend($"{modes[m].Name()} floor", colour, dashed: true);
            }
        }

        svg.AppendLine("</svg>");
        return svg.ToString();

        void Legend(string label, string colour, bool dashed)
        {
            double y = Top + 10 + (legend++ * 20);
            double x = Width - Right + 20;
            svg.AppendLine(c, $"""<line x1="{x}" x2="{x + 24}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"{(dashed ? " stroke-dasharray=\"5 4\"" : string.Empty)}/>""");
            svg.AppendLine(c, $"""<text x="{x + 30}" y="{y + 4}">{Escape(label)}</text>""");
        }
    }

    private static double NiceStep(double raw)
    {
        if (raw <= 0)
        {
            return 1;
        }

        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double fraction = raw / magnitude;
        return magnitude * (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10);
    }

    private static string Escape(string text) => SecurityElement.Escape(text) ?? string.Empty;
}
