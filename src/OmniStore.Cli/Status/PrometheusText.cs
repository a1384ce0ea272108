using System.Globalization;
using System.Text;
using OmniStore.Internal;

namespace OmniStore.Cli.Status;

/// <summary>
/// Writes the Prometheus text exposition format (version 0.0.4): per metric family one
/// <c># HELP</c> and one <c># TYPE</c> line, then its samples, <c>name{label="value",...} number</c>.
/// </summary>
internal sealed class PrometheusText : IMetricWriter
{
    /// <summary>The content type scrapers expect for this format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _text = new();

    /// <inheritdoc/>
    public IMetricWriter Family(string name, string type, string help)
    {
        _text.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(help)).Append('\n');
        _text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        return this;
    }

    /// <inheritdoc/>
    public IMetricWriter Sample(string name, long value, params (string Name, string Value)[] labels)
    {
        _text.Append(name);
        if (labels.Length > 0)
        {
            _text.Append('{');
            for (int i = 0; i < labels.Length; i++)
            {
                _text.Append(i == 0 ? "" : ",").Append(labels[i].Name).Append("=\"").Append(EscapeLabel(labels[i].Value)).Append('"');
            }

            _text.Append('}');
        }

        _text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return this;
    }

    public override string ToString() => _text.ToString();

    /// <summary>The longest label value written, in characters; a longer one is cut (and says so).</summary>
    public const int MaxLabelLength = 256;

    // The format escapes backslash and newline in help text, and also the double quote in label values.
    private static string EscapeHelp(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    // Label values may come from peers (a child's site): anything not printable is first written as
    // an escape sequence (so no raw control character reaches a scraper or a terminal), and the
    // value is cut, whatever a peer managed to send.
    private static string EscapeLabel(string text) => EscapeHelp(UntrustedText.Escape(text, MaxLabelLength)).Replace("\"", "\\\"", StringComparison.Ordinal);
}
