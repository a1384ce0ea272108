using OmniStore.Content;

namespace OmniStore.Tests.Fuzzing;

/// <summary>
/// The committed corpus, tests/OmniStore.Tests/Fuzzing/corpus/TARGET/: seed-*.bin are valid
/// encodings from the real encoders, found-*.bin inputs that once produced a new outcome, and
/// regress-*.bin inputs that once failed. Every file is replayed before each fuzz run. It is read
/// from the source tree (found from the test assembly's folder), so new files need no rebuild.
/// </summary>
internal static class FuzzCorpus
{
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    public static string RepositoryRoot => Root.Value;

    public static string DirectoryOf(string target) =>
        Path.Combine(RepositoryRoot, "tests", "OmniStore.Tests", "Fuzzing", "corpus", target);

    /// <summary>Every committed input of <paramref name="target"/>, by file name.</summary>
    public static IReadOnlyList<(string Name, byte[] Bytes)> Load(string target)
    {
        string directory = DirectoryOf(target);
        if (!Directory.Exists(directory))
        {
            return [];
        }

        return [.. Directory.GetFiles(directory, "*.bin").Order(StringComparer.Ordinal).Select(path => (Path.GetFileName(path), File.ReadAllBytes(path)))];
    }

    /// <summary>Inputs larger than this are not saved as found: the corpus stays small enough to read and review.</summary>
    public const int MaxFoundLength = 8 * 1024;

    /// <summary>Writes an input that produced a new outcome as found-HASH.bin (content-named, so the same input is written once).</summary>
    public static string SaveFound(string target, byte[] input)
    {
        Directory.CreateDirectory(DirectoryOf(target));
        string path = Path.Combine(DirectoryOf(target), $"found-{NameOf(input)}.bin");
        File.WriteAllBytes(path, input);
        return path;
    }

    /// <summary>Writes a failing input into <paramref name="directory"/>, named by target and content.</summary>
    public static string SaveFailure(string directory, string target, byte[] input)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, $"{target}-{NameOf(input)}.bin");
        File.WriteAllBytes(path, input);
        return path;
    }

    public static string NameOf(byte[] input) => XxHash3.Hash64(input).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "OmniStore.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No OmniStore.sln above {AppContext.BaseDirectory}: the fuzz tests read their corpus from the source tree.");
    }
}
