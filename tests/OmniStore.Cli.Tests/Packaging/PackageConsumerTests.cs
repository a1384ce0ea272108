using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Reflection.Metadata;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using OmniStore.Cli.Tests.Infrastructure;

namespace OmniStore.Cli.Tests.Packaging;

/// <summary>
/// The OmniStore package as a new user meets it: packed from this tree into a folder, referenced by
/// a console app made with <c>dotnet new console</c> that has no NoWarn or any other workaround,
/// and whose Program.cs is the package README's quick start next to .NET 10's own async LINQ (which
/// System.Linq.Async 5 and 6, once brought in by FASTER, made ambiguous: CS0121).
/// </summary>
public sealed partial class PackageConsumerTests : IDisposable
{
    private static readonly TimeSpan SdkTimeout = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _dir = new("omnistore-package");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ANewConsoleApp_ReferencesThePackage_WithNoWorkaround_AndRunsTheQuickStartWithAsyncLinq()
    {
        string root = RepositoryRoot();
        string feed = _dir.Sub("feed");

        // Building the tests built the library in their configuration: that build is packed.
        var pack = await DotnetAsync(root, "pack", Path.Combine(root, "src", "OmniStore", "OmniStore.csproj"),
            "-c", BuildConfiguration(), "--no-build", "-o", feed);
        Assert.True(pack.ExitCode == 0, pack.ToString());

        // A pack of the tree is a version of its own, so NuGet's caches never hand out an older one.
        string package = Assert.Single(Directory.GetFiles(feed, "*.nupkg"));
        var version = PackageFileName().Match(Path.GetFileName(package));
        Assert.True(version.Success, $"{Path.GetFileName(package)} is not OmniStore.<version>-dev.<yyyyMMddHHmmss>.nupkg");
        string packageVersion = version.Groups["version"].Value;
        string symbols = Path.ChangeExtension(package, ".snupkg");
        Assert.True(File.Exists(symbols), $"no symbols package beside {package}");

        string commit = CheckMetadata(package, root);
        CheckSourceLink(symbols, commit);

        // The app, as a user makes it. Its nuget.config adds the folder to the sources the machine
        // already has (nuget.org, or its mirror), as the README's example does. Packages go to a
        // folder of the test's own, so nothing of this version stays behind, and are first looked
        // for in the user's folder, so that restoring needs no download where a build has run.
        var create = await DotnetAsync(_dir.Path, "new", "console", "-o", _dir.Sub("app"), "-n", "PackageCheck", "--no-update-check");
        Assert.True(create.ExitCode == 0, create.ToString());
        string app = _dir.Sub("app");
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="omnistore-local" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="user" value="{UserPackagesFolder()}" />
              </fallbackPackageFolders>
            </configuration>
            """, TestContext.Current.CancellationToken);

        var add = await DotnetAsync(app, "add", "package", "OmniStore", "--version", packageVersion);
        Assert.True(add.ExitCode == 0, add.ToString());
        string project = await File.ReadAllTextAsync(Path.Combine(app, "PackageCheck.csproj"), TestContext.Current.CancellationToken);
        Assert.Contains($"""<PackageReference Include="OmniStore" Version="{packageVersion}" />""", project, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), QuickStart(root) + """

            // .NET 10's own async LINQ (System.Linq.AsyncEnumerable), next to OmniStore.
            int sum = 0;
            await foreach (int square in new[] { 1, 2, 3 }.ToAsyncEnumerable().Select(x => x * x))
            {
                sum += square;
            }
            Console.WriteLine($"async LINQ: {sum}, {await new[] { 4, 5 }.ToAsyncEnumerable().Where(x => x > 4).CountAsync()} above 4");
            """, TestContext.Current.CancellationToken);

        // No warning either: a user's project may treat them as errors.
        var build = await DotnetAsync(app, "build", "-warnaserror");
        Assert.True(build.ExitCode == 0, build.ToString());

        var run = await DotnetAsync(app, "run", "--no-build");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(
            ["worker: 8000000 bytes, 8 chunks, version 1, as put: True", "async LINQ: 14, 1 above 4"],
            run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>Checks the package's metadata and README; returns the commit it names.</summary>
    private static string CheckMetadata(string package, string root)
    {
        using var zip = ZipFile.OpenRead(package);
        var nuspecEntry = zip.GetEntry("OmniStore.nuspec");
        Assert.NotNull(nuspecEntry);
        XDocument nuspec;
        using (var stream = nuspecEntry.Open())
        {
            nuspec = XDocument.Load(stream);
        }

        var ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        var license = metadata.Element(ns + "license");
        Assert.Equal("expression", license?.Attribute("type")?.Value);
        Assert.Equal("Apache-2.0", license?.Value);
        Assert.StartsWith("https://", metadata.Element(ns + "projectUrl")?.Value, StringComparison.Ordinal);
        var repository = metadata.Element(ns + "repository");
        Assert.StartsWith("https://", repository?.Attribute("url")?.Value, StringComparison.Ordinal);
        string commit = repository?.Attribute("commit")?.Value ?? "";
        Assert.Matches("^[0-9a-f]{40}$", commit);

        // Its dependencies leave async LINQ to .NET 10: no System.Linq.Async, and FASTER's
        // System.Interactive.Async lifted to the version that has none of it on net10.0.
        var dependencies = metadata.Descendants(ns + "dependency").ToDictionary(d => d.Attribute("id")!.Value, d => d.Attribute("version")!.Value);
        Assert.DoesNotContain("System.Linq.Async", dependencies.Keys);
        Assert.Equal("7.0.1", dependencies["System.Interactive.Async"]);

        // The README is the package's own, not the repository's.
        Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
        var readmeEntry = zip.GetEntry("README.md");
        Assert.NotNull(readmeEntry);
        using var reader = new StreamReader(readmeEntry.Open(), Encoding.UTF8);
        string readme = reader.ReadToEnd();
        Assert.StartsWith("# OmniStore\n", readme, StringComparison.Ordinal);
        Assert.Contains(QuickStart(root), readme, StringComparison.Ordinal);
        return commit;
    }

    /// <summary>The PDB in the symbols package maps the sources to the repository at <paramref name="commit"/>.</summary>
    private static void CheckSourceLink(string symbols, string commit)
    {
        using var zip = ZipFile.OpenRead(symbols);
        var pdbEntry = zip.GetEntry("lib/net10.0/OmniStore.pdb");
        Assert.NotNull(pdbEntry);
        var pdb = new MemoryStream();
        using (var stream = pdbEntry.Open())
        {
            stream.CopyTo(pdb);
        }

        pdb.Position = 0;
        using var provider = MetadataReaderProvider.FromPortablePdbStream(pdb);
        var reader = provider.GetMetadataReader();
        var sourceLinkKind = new Guid("CC110556-A091-4D38-9FEC-25AB9A351A6A");
        string? sourceLink = null;
        foreach (var handle in reader.CustomDebugInformation)
        {
            var information = reader.GetCustomDebugInformation(handle);
            if (reader.GetGuid(information.Kind) == sourceLinkKind)
            {
                sourceLink = Encoding.UTF8.GetString(reader.GetBlobBytes(information.Value));
            }
        }

        Assert.NotNull(sourceLink);
        Assert.Matches($"\"https://[^\"]*/{commit}/\\*\"", sourceLink);
    }

    /// <summary>The C# of the package README's quick start, as written there.</summary>
    private static string QuickStart(string root)
    {
        string readme = File.ReadAllText(Path.Combine(root, "docs", "package-readme.md"));
        int section = readme.IndexOf("## Quick start", StringComparison.Ordinal);
        Assert.True(section >= 0, "docs/package-readme.md has no Quick start");
        var code = CSharpBlock().Match(readme, section);
        Assert.True(code.Success, "docs/package-readme.md's Quick start has no C#");
        return code.Groups["code"].Value;
    }

    /// <summary>Runs the SDK's <c>dotnet</c> as from a shell: none of the test host's MSBuild settings, and nothing left running.</summary>
    private async Task<CliResult> DotnetAsync(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(ProcessRunner.DotnetHost())
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (string name in start.Environment.Keys.ToList())
        {
            if (name.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || name.StartsWith("OMNISTORE_", StringComparison.Ordinal))
            {
                start.Environment.Remove(name);
            }
        }

        // No build node or compiler server outlives the command.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["NUGET_PACKAGES"] = _dir.Sub("packages");
        start.Environment["OMNISTORE_DATA"] = _dir.Sub("store");
        return await ProcessRunner.RunAsync(start, $"dotnet {string.Join(' ', args)}", SdkTimeout);
    }

    private static string BuildConfiguration() =>
        typeof(PackageConsumerTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    /// <summary>Where restores on this machine keep their packages.</summary>
    private static string UserPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "OmniStore.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No OmniStore.sln above {AppContext.BaseDirectory}: the test packs the library from the source tree.");
    }

    [GeneratedRegex(@"^OmniStore\.(?<version>[0-9]+\.[0-9]+\.[0-9]+-dev\.20[0-9]{12})\.nupkg$")]
    private static partial Regex PackageFileName();

    [GeneratedRegex(@"```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
