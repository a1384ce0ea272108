namespace OmniStore.Cli.Bench;

/// <summary>How to start this same <c>omnistore</c> program again, as a child process.</summary>
internal static class OmniStoreExecutable
{
    /// <summary>The file to run and the arguments that come before the command's own.</summary>
    public static (string FileName, IReadOnlyList<string> Prefix) Resolve()
    {
        string process = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this program is unknown.");
        // Run as "dotnet OmniStore.Cli.dll": the host needs the assembly again. Run from the
        // apphost (the tool's "omnistore" executable) or compiled ahead of time: the executable is enough.
        return Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? (process, [Path.Combine(AppContext.BaseDirectory, typeof(OmniStoreExecutable).Assembly.GetName().Name + ".dll")])
            : (process, []);
    }
}
