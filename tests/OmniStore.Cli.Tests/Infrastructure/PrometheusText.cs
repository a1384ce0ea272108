using System.Globalization;
using System.Text.RegularExpressions;

namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>
/// A strict reader of the Prometheus text format (0.0.4), for tests: every line is a comment or a
/// sample <c>name{label="value",...} number</c>, and every sample belongs to a family declared by
/// one <c># TYPE</c> line before it. Fails the test on anything else.
/// </summary>
public sealed partial class PrometheusText
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    public static PrometheusText Parse(string text)
    {
        var result = new PrometheusText();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        foreach (string line in text.Split('\n').SkipLast(1))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var type = TypeLine().Match(line);
                Assert.True(type.Success, $"bad TYPE line: {line}");
                Assert.True(types.TryAdd(type.Groups["name"].Value, type.Groups["type"].Value), $"a second TYPE line for {type.Groups["name"].Value}");
                continue;
            }

            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                Assert.Matches(HelpLine(), line);
                continue;
            }

            Assert.False(line.StartsWith('#'), $"unexpected comment: {line}");
            var sample = SampleLine().Match(line);
            Assert.True(sample.Success, $"not a sample line: '{line}'");
            string name = sample.Groups["name"].Value;
            Assert.True(types.ContainsKey(name), $"{name} has no TYPE line before its sample");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match label in Label().Matches(sample.Groups["labels"].Value))
            {
                Assert.True(labels.TryAdd(label.Groups["name"].Value, label.Groups["value"].Value), $"label {label.Groups["name"].Value} twice in {line}");
            }

            result._samples.Add((name, labels, double.Parse(sample.Groups["value"].Value, CultureInfo.InvariantCulture)));
        }

        return result;
    }

    public bool Has(string name) => _samples.Any(s => s.Name == name);

    /// <summary>Every sample read, in order.</summary>
    public IReadOnlyList<(string Name, Dictionary<string, string> Labels, double Value)> Samples => _samples;

    /// <summary>The value of the one sample of <paramref name="name"/> that has <paramref name="labels"/> (and maybe others).</summary>
    public double Get(string name, params (string Name, string Value)[] labels)
    {
        var matches = _samples.Where(s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Name) == l.Value)).ToList();
        Assert.True(matches.Count == 1, $"{matches.Count} samples of {name} with {string.Join(",", labels)}");
        return matches[0].Value;
    }

    [GeneratedRegex("^# TYPE (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<type>counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S.*$")]
    private static partial Regex HelpLine();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")*)\})? (?<value>-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""(?<name>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(\\[\\"n]|[^\\"\n])*)""")]
    private static partial Regex Label();
}
