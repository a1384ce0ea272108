using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace OmniStore.Tests.Docs;

/// <summary>
/// Every C# block of README.md compiles, as written, against this build of the
/// library (and its dependency-injection package): a snippet a reader copies does not start with a
/// compile error. Each block is compiled on its own as a program of top-level statements.
/// </summary>
public sealed partial class ReadmeSnippetTests
{
    public static TheoryData<string, int> Snippets()
    {
        var data = new TheoryData<string, int>();
        foreach (string document in Documents)
        {
            for (int i = 0; i < Blocks(document).Count; i++)
            {
                data.Add(document, i);
            }
        }

        return data;
    }

    private static readonly string[] Documents = ["README.md"];

    [Theory]
    [MemberData(nameof(Snippets))]
    public void ACSharpBlock_Compiles(string document, int index)
    {
        var (line, code) = Blocks(document)[index];
        var ct = TestContext.Current.CancellationToken;
        var tree = CSharpSyntaxTree.ParseText(code, new CSharpParseOptions(LanguageVersion.Latest), path: $"{document}:{line}", cancellationToken: ct);
        var compilation = CSharpCompilation.Create(
            $"Snippet{index}",
            [tree, CSharpSyntaxTree.ParseText("global using System; global using System.IO; global using System.Linq; global using System.Threading; global using System.Threading.Tasks; global using System.Collections.Generic;", cancellationToken: ct)],
            References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics(ct).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, $"{document}, the C# block at line {line}:\n{string.Join("\n", errors)}");
    }

    [Fact]
    public void TheReadme_HasCSharpBlocks_ToCompile() => Assert.True(Blocks("README.md").Count >= 2);

    /// <summary>The C# blocks of a document, with the line each starts on.</summary>
    private static List<(int Line, string Code)> Blocks(string document)
    {
        string path = Path.Combine(RepositoryRoot, document);
        if (!File.Exists(path))
        {
            return [];
        }

        var lines = File.ReadAllLines(path);
        var blocks = new List<(int, string)>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp")
            {
                continue;
            }

            int start = i + 1;
            int end = start;
            while (end < lines.Length && lines[end].Trim() != "```")
            {
                end++;
            }

            blocks.Add((start + 1, string.Join('\n', lines[start..end])));
            i = end;
        }

        return blocks;
    }

    // The repository root, found once for the tests (the corpus finds it the same way).
    private static string RepositoryRoot => Fuzzing.FuzzCorpus.RepositoryRoot;

    /// <summary>What a program using the packages sees: the framework, and the library and its dependencies as this test runs them.</summary>
    private static readonly Lazy<List<MetadataReference>> References = new(() =>
        [.. ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.Ordinal) && !ManagedTestOnly().IsMatch(Path.GetFileName(p)))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))]);

    // The test's own and its runner's assemblies are not what an application references.
    [GeneratedRegex(@"^(xunit|OmniStore\.Tests|OmniStore\.TestHost|FsCheck|Microsoft\.TestPlatform|testhost|Microsoft\.VisualStudio)", RegexOptions.IgnoreCase)]
    private static partial Regex ManagedTestOnly();
}
