namespace OmniStore.Cli.Tests.Infrastructure;

/// <summary>Files of the source tree the tests check (docs/, deploy/), found above the test binaries.</summary>
public static class RepositoryFiles
{
    private static readonly Lazy<string> RootDirectory = new(FindRoot);

    /// <summary>The repository's root: the folder holding OmniStore.sln.</summary>
    public static string Root => RootDirectory.Value;

    /// <summary>The path of <paramref name="relative"/> (with '/') under the root.</summary>
    public static string PathOf(string relative) => Path.Combine([Root, .. relative.Split('/')]);

    public static string Read(string relative) => File.ReadAllText(PathOf(relative));

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "OmniStore.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No OmniStore.sln above {AppContext.BaseDirectory}: these tests read files of the source tree.");
    }
}
